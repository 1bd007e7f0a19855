import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ClientSink, Upload, UpstreamExchange } from "./h1/exchange.js";
import type { ResponseHead } from "./h1/response-parser.js";
import { responseHeaders, stamped } from "./headers.js";
import { sendError, upstreamFailure } from "./replies.js";

/**
 * Node's door's side of an exchange (node-door.ts): the response goes out through the client's
 * ServerResponse (NodeSink), and a request body comes in from its IncomingMessage (RequestUpload),
 * with backpressure both ways.
 */

// Once the status line is on the wire a failure can only be signalled by cutting the connection,
// so the status a client observed no longer says what went wrong. It is recorded here instead, for
// whoever counts results; a WeakMap keeps it off the response object and collects with it.
const failures = new WeakMap<ServerResponse, number>();

export function failureOf(res: ServerResponse): number | undefined {
  return failures.get(res);
}

const SINK = Symbol("switchyard sink");
type WithSink = ServerResponse & { [SINK]?: NodeSink };

// One listener function for every response; the sink rides on the response object.
function onResponseClose(this: WithSink): void {
  const sink = this[SINK];
  this[SINK] = undefined;
  if (sink !== undefined && !this.writableFinished) sink.exchange?.abandon();
}

export class NodeSink implements ClientSink {
  exchange: UpstreamExchange | undefined;
  private waitingForDrain = false;
  private readonly onDrain = (): void => {
    this.waitingForDrain = false;
    this.exchange?.resume();
  };

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    /** The AGENT_REVISION_HEADER field and the routing revision, if set. */
    private readonly stamp: readonly [string, string] | undefined,
    /** The pool's name, for the 502/504 message; undefined for a direct address. */
    private readonly pool: string | undefined,
  ) {}

  /** Ties the response's lifetime to `exchange`: a client that leaves abandons it. */
  bind(exchange: UpstreamExchange): void {
    this.exchange = exchange;
    (this.res as WithSink)[SINK] = this;
    this.res.on("close", onResponseClose);
  }

  head(head: ResponseHead): boolean {
    const res = this.res;
    try {
      const fields = responseHeaders(head.rawHeaders, head.connection);
      res.writeHead(head.status, head.reason || undefined, this.stamp === undefined ? fields : stamped(fields, this.stamp[0], this.stamp[1]));
      return true;
    } catch {
      // Node refused a status line or header the upstream sent: the upstream is at fault. Undo what
      // writeHead kept before throwing, so the 502 goes out with its own reason phrase.
      res.statusMessage = "";
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      return false;
    }
  }

  body(chunk: Buffer, last: boolean): boolean {
    const res = this.res;
    if (last) {
      res.end(chunk);
      return true;
    }
    if (res.write(chunk)) return true;
    if (!this.waitingForDrain && !res.destroyed) {
      this.waitingForDrain = true;
      res.once("drain", this.onDrain);
    }
    return false;
  }

  flush(): void {
    // Node's response writes (and corks) by itself.
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }

  fail(status: 502 | 504): void {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return;
    if (res.headersSent) {
      failures.set(res, status);
      res.destroy();
      return;
    }
    try {
      sendError(res, upstreamFailure(status, this.pool), false, this.stamp);
    } catch {
      res.destroy();
    }
  }

  gone(): void {
    // The door reports the result when the response closes (499: it never finished).
  }

  get closed(): boolean {
    return this.res.destroyed || this.req.socket.destroyed;
  }

  cut(): void {
    this.req.socket.destroy();
  }
}

const noop = () => undefined;

/** The request body, written upstream as it arrives: with its length as sent, or re-chunked chunk for chunk. */
export class RequestUpload implements Upload {
  done = false;
  paused = false;
  private stopped = false;
  private socket: Socket | undefined;
  private readonly onData = (chunk: Buffer): void => {
    const socket = this.socket;
    // An empty chunk would read as the chunked terminator upstream.
    if (socket === undefined || this.stopped || chunk.length === 0) return;
    let ok: boolean;
    if (this.chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
      socket.write(chunk);
      ok = socket.write("\r\n", "latin1");
      socket.uncork();
    } else ok = socket.write(chunk);
    if (!ok) {
      this.paused = true;
      this.req.pause();
    }
  };
  private readonly onEnd = (): void => {
    this.done = true;
    this.req.off("data", this.onData);
    if (this.chunked && !this.stopped) this.socket?.write("0\r\n\r\n", "latin1");
  };

  constructor(
    private readonly req: IncomingMessage,
    private readonly chunked: boolean,
  ) {}

  start(socket: Socket): void {
    this.socket = socket;
    this.req.on("error", noop);
    this.req.on("data", this.onData);
    this.req.once("end", this.onEnd);
  }

  drained(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.stopped) this.req.resume();
  }

  /**
   * Stops forwarding; what is left of the body drains and is dropped, as Node does with a body nobody
   * read, so the client's connection stays usable for its next request. The no-op error listener
   * stays for a client that aborts later.
   */
  stop(): void {
    this.stopped = true;
    if (this.done) return;
    this.req.off("data", this.onData);
    this.req.off("end", this.onEnd);
    if (!this.req.destroyed) this.req.resume();
  }
}
