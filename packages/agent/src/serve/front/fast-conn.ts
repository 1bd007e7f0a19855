import type { Socket } from "node:net";
import { UpstreamExchange } from "../h1/exchange.js";
import { MAX_HEAD_BYTES } from "../h1/response-parser.js";
import { CRLFCRLF } from "../h1/syntax.js";
import type { UpstreamPool } from "../h1/upstream-pool.js";
import { peerOf } from "../headers.js";
import { newPassRequest, runPasses, upstreamHead, type PassEnv, type PassRequest } from "../passes.js";
import type { ForwardTarget } from "../table.js";
import { readRequestHead } from "./request-head.js";
import { SocketSink, type SocketClient, type SocketSinkDeps } from "./socket-sink.js";

/**
 * One client connection on the fast path (front/listener.ts): request heads read straight off the
 * socket, run through the passes, forwarded by the upstream exchange, and the response written
 * straight back by a SocketSink. It skips Node's IncomingMessage/ServerResponse machinery, which
 * alone costs about what nginx spends on a whole proxied request (BENCHMARKS.md).
 *
 * Invariants:
 *  - one request at a time: a pipelined request waits, unread, until the response before it is
 *    out and the client has read what it was sent (else reading stops, as in Node's server);
 *  - a head the tokenizer does not take (or one split across reads) goes to Node's HTTP server with
 *    the unread bytes, between two requests, and the connection stays there for good;
 *  - after a request that closes the connection (Connection or Proxy-Connection: close, a 400, a
 *    drain), nothing more is read from it as a request, whenever it arrives (RFC 9112 §9.6);
 *  - every request ends in a complete response, the edge's own answer, or a closed connection, and
 *    is reported once.
 */

export interface FastDeps extends SocketSinkDeps {
  env: PassEnv;
  pool(target: ForwardTarget): UpstreamPool;
  /** Gives the socket, with `unread` put back in front, to Node's HTTP server for good. */
  handoff(socket: Socket, unread: Buffer | undefined): void;
  keepAliveTimeoutMs: number;
  clientSendTimeoutMs: number;
  forget(conn: FastConn): void;
}

/**
 * Bytes read from the client and not used yet. A read that arrives on an empty buffer is kept as it
 * came (no copy: the common case of one request per read); later reads are appended into an owned
 * buffer that doubles when full; and the search for a head's end resumes where the last one stopped
 * (less 3 bytes, for a blank line split across reads). Reading a head stays linear in its size
 * however finely it is cut into reads.
 */
class Unread {
  private data: Buffer | undefined;
  private from = 0;
  private to = 0;
  private owned = false;
  /** No blank line starts before this index of `data`, bar the 3 bytes before it. */
  private searched = 0;

  get length(): number {
    return this.to - this.from;
  }

  push(chunk: Buffer): void {
    if (this.to === this.from) {
      this.data = chunk;
      this.from = this.searched = 0;
      this.to = chunk.length;
      this.owned = false;
      return;
    }
    const data = this.data as Buffer;
    // TypedArray set, not Buffer copy: a one-byte read must cost next to nothing.
    if (this.owned && this.to + chunk.length <= data.length) {
      data.set(chunk, this.to);
      this.to += chunk.length;
      return;
    }
    const live = this.to - this.from;
    const grown = Buffer.allocUnsafe(Math.max(2 * (live + chunk.length), 4096));
    grown.set(data.subarray(this.from, this.to), 0);
    grown.set(chunk, live);
    this.searched = Math.max(0, this.searched - this.from);
    this.data = grown;
    this.from = 0;
    this.to = live + chunk.length;
    this.owned = true;
  }

  /** Where the first head's blank line starts, counted from the first unread byte; -1 before it has arrived. */
  headEnd(): number {
    const data = this.data as Buffer;
    const view = this.owned ? data.subarray(0, this.to) : data;
    const at = view.indexOf(CRLFCRLF, Math.max(this.from, this.searched - 3));
    if (at < 0) {
      this.searched = this.to;
      return -1;
    }
    return at - this.from;
  }

  text(n: number): string {
    return (this.data as Buffer).toString("latin1", this.from, this.from + n);
  }

  consume(n: number): void {
    this.from += n;
    this.searched = this.from;
    if (this.from >= this.to) this.clear();
  }

  /** Everything unread, and forgets it. */
  take(): Buffer | undefined {
    const rest = this.length === 0 ? undefined : (this.data as Buffer).subarray(this.from, this.to);
    this.clear();
    return rest;
  }

  clear(): void {
    this.data = undefined;
    this.from = this.to = this.searched = 0;
    this.owned = false;
  }
}

export class FastConn implements SocketClient {
  gone = false;
  private readonly unread = new Unread();
  private readonly exchange: UpstreamExchange;
  private readonly sink: SocketSink;
  /** Reused for every request of the connection: the passes and the tokenizer fill it in. */
  private readonly req: PassRequest;
  /** Responses already written wait for the client to read them: no next request until 'drain'. */
  private blocked = false;
  /** The connection closes after the response under way: nothing more is read as a request. */
  private closing = false;
  /** When the client stopped reading with no exchange under way (0: it has not). */
  private stalledAt = 0;
  private clientEnded = false;
  private readonly listeners: readonly [string, (chunk: Buffer) => void][];

  constructor(
    readonly socket: Socket,
    private readonly deps: FastDeps,
  ) {
    this.exchange = new UpstreamExchange(deps.log, deps);
    this.sink = new SocketSink(this, deps);
    this.req = newPassRequest(peerOf(socket, deps.env.trusted));
    this.listeners = [
      ["data", this.onData],
      ["end", this.onEnd],
      ["close", this.onClose],
      ["error", this.onError],
      ["drain", this.onClientDrain],
      ["timeout", this.onTimeout],
    ];
    for (const [event, fn] of this.listeners) socket.on(event, fn);
    socket.setTimeout(deps.keepAliveTimeoutMs);
  }

  /** Closes the connection if no request is under way; says whether it did. */
  closeIfIdle(): boolean {
    if (this.exchange.active) return false;
    this.socket.destroy();
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closing) return;
    this.unread.push(chunk);
    if (!this.exchange.active && !this.blocked) this.next();
    // Bytes beyond one head's worth while a response is under way or unread: stop reading until it is.
    else if (this.unread.length > MAX_HEAD_BYTES) this.socket.pause();
  };

  /** Starts the next request in `unread`, or hands the connection over; one exchange at a time. */
  private next(): void {
    if (this.unread.length === 0 || this.exchange.active || this.blocked || this.gone || this.clientEnded || this.closing) return;
    const end = this.unread.headEnd();
    const req = this.req;
    if (end < 0 || end > MAX_HEAD_BYTES || readRequestHead(this.unread.text(end), req) === undefined) {
      this.handoff();
      return;
    }
    this.unread.consume(end + 4);
    const refusal = runPasses(req, this.deps.env);
    const target = req.target;
    this.sink.prepare(req);
    if (req.close) this.closing = true;
    if (refusal !== undefined) this.sink.refuse(refusal);
    else this.exchange.begin(this.sink, target as ForwardTarget, this.deps.pool(target as ForwardTarget), upstreamHead(req), req.method, undefined);
  }

  private readonly nextLater = (): void => this.next();

  private handoff(): void {
    for (const [event, fn] of this.listeners) this.socket.off(event, fn);
    this.socket.setTimeout(0);
    this.deps.forget(this);
    this.deps.handoff(this.socket, this.unread.take());
  }

  responded(closeAfter: boolean): void {
    if (closeAfter || this.closing || this.deps.draining()) {
      // Whatever the client sends from now on is read and dropped until it closes its side or the
      // idle timeout cuts it: closing with unread bytes would reset the connection under the response.
      this.closing = true;
      this.unread.clear();
      if (this.socket.isPaused()) this.socket.resume();
      this.socket.end();
      return;
    }
    // The client is not reading what it was sent: read no further request until it does (Node's
    // server does the same), or a pipelining client could pile up responses in memory without bound.
    if (this.socket.writableNeedDrain) {
      this.blocked = true;
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    // Not from inside this upstream read: its parser is still on the stack.
    if (this.unread.length > 0) process.nextTick(this.nextLater);
  }

  // A client that half-closes has given up on the response under way, as Node's server (without
  // httpAllowHalfOpen) takes it: the exchange is abandoned and the connection ended.
  private readonly onEnd = (): void => {
    this.clientEnded = true;
    this.exchange.abandon();
    this.socket.end();
  };

  private readonly onError = (): void => {
    // 'close' follows; a client's reset is not the edge's error.
  };

  private readonly onClose = (): void => {
    this.gone = true;
    this.deps.forget(this);
    this.exchange.abandon();
  };

  private readonly onTimeout = (): void => {
    // A busy connection is the upstream timer's business.
    if (this.exchange.active) return;
    // Idle keep-alive connections close. One whose client has not yet read the last response gets
    // the send timeout to do so, as during a response, rather than losing its tail at 5 s.
    if (this.socket.writableLength > 0) {
      const now = performance.now();
      if (this.stalledAt === 0) this.stalledAt = now;
      if (now - this.stalledAt < this.deps.clientSendTimeoutMs) {
        this.socket.setTimeout(this.deps.keepAliveTimeoutMs);
        return;
      }
    }
    this.socket.destroy();
  };

  private readonly onClientDrain = (): void => {
    this.stalledAt = 0;
    if (this.exchange.resume() || !this.blocked) return;
    this.blocked = false;
    if (this.socket.isPaused()) this.socket.resume();
    this.next();
  };
}
