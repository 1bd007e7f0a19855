import type { IncomingMessage } from "node:http";

/**
 * A client's request body as the async iterable undici streams upstream, one chunk at a time.
 *
 * Why not hand undici the IncomingMessage itself: for a stream body undici reads the stream's
 * internal state, and a body that has already arrived in full (a small chunked DELETE, say) is
 * re-framed with a Content-Length. An iterable has no length, so a chunked request leaves chunked,
 * exactly as it came, and a Content-Length request keeps its declared length (undici checks the
 * bytes against it). undici also destroys a stream body when the upstream request ends, which for
 * an IncomingMessage would cut the client connection before an error response could reach it.
 *
 * Backpressure: at most one chunk (rarely two) is held here; the request stays paused until undici
 * asks for the next one, which it does only once the upstream socket has drained.
 */
export class UndiciRequestBody implements AsyncIterable<Buffer>, AsyncIterator<Buffer> {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private failure: Error | undefined;
  private waiter: { resolve: (r: IteratorResult<Buffer>) => void; reject: (e: Error) => void } | undefined;
  private released = false;

  constructor(private readonly req: IncomingMessage) {
    req.on("data", this.onData);
    req.once("end", this.onEnd);
    req.on("error", this.onError);
    req.once("close", this.onClose);
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this;
  }

  next(): Promise<IteratorResult<Buffer>> {
    const value = this.chunks.shift();
    if (value !== undefined) {
      if (this.chunks.length === 0 && !this.released) this.req.resume();
      return Promise.resolve({ done: false, value });
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** undici leaving the loop early (its upstream socket failed): nothing more will be read. */
  return(): Promise<IteratorResult<Buffer>> {
    this.release();
    return Promise.resolve({ done: true, value: undefined });
  }

  /**
   * The upstream exchange is over (answered, failed or aborted) with the body maybe not all read:
   * stop feeding undici and let the rest of the body drain and be discarded, as Node does with a
   * body nobody read, so the client connection stays usable for its next request.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.chunks.length = 0;
    this.req.off("data", this.onData);
    this.req.off("end", this.onEnd);
    this.req.off("close", this.onClose);
    // The 'error' listener stays: a client that aborts later must not raise an unhandled error.
    // Any read from here on fails, so undici can never wait on a body nobody feeds.
    if (!this.ended && !this.failure) this.failure = new Error("request body released");
    this.settle(this.failure);
    if (!this.req.destroyed) this.req.resume();
  }

  private settle(err?: Error): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (err) w.reject(err);
    else w.resolve({ done: true, value: undefined });
  }

  private readonly onData = (chunk: Buffer): void => {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve({ done: false, value: chunk });
      return;
    }
    this.chunks.push(chunk);
    this.req.pause();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.settle();
  };

  private readonly onError = (err: Error): void => {
    if (this.released || this.ended) return;
    this.failure = err;
    this.settle(err);
  };

  private readonly onClose = (): void => {
    if (this.ended || this.failure) return;
    this.onError(new Error("client closed the connection before the request body was complete"));
  };
}
