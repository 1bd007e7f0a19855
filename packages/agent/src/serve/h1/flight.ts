import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { failUpstream, type ForwardTarget } from "../engine.js";
import { responseHeaders } from "../headers.js";
import type { ResponseHead } from "./response-parser.js";
import { IDLE_SOCKET_MS, type Conn, type Exchange, type UpstreamPool } from "./upstream-pool.js";

/**
 * One request through the h1 engine (engine-h1.ts): the request head and body written onto a pooled
 * upstream connection, the parsed response handed to the client's ServerResponse, backpressure
 * both ways, and exactly one ending (response complete, 502/504, or the client gone).
 */

/** How the request body is framed upstream: none, Content-Length bytes as they come, or re-chunked. */
export type Body = "none" | "fixed" | "chunked";

/** Methods a request may be repeated with (RFC 9110 §9.2.2), for the one retry on a reused connection. */
export const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
const FLIGHT = Symbol("h1 flight");
const noop = () => undefined;

type WithFlight = ServerResponse & { [FLIGHT]?: Flight };

// One listener function for every response; the exchange rides on the response object.
function onResponseClose(this: WithFlight): void {
  this[FLIGHT]?.onClientClose();
}

/** The request line and headers, as Node parsed them (latin1, so the bytes go out unchanged). */
function requestHead(req: IncomingMessage, target: ForwardTarget): string {
  const h = req.headers;
  let head = `${req.method ?? "GET"} ${req.url ?? "/"} HTTP/1.1\r\n`;
  if (h.host === undefined) head += `host: ${target.address.kind === "unix" ? "localhost" : target.address.key}\r\n`;
  for (const name in h) {
    const v = h[name];
    if (v === undefined) continue;
    if (typeof v === "string") head += `${name}: ${v}\r\n`;
    else for (const one of v) head += `${name}: ${one}\r\n`;
  }
  if (target.keepalive <= 0) head += "connection: close\r\n";
  return `${head}\r\n`;
}

/** One proxied request: an exchange on an upstream connection, tied to the client's response. */
export class Flight implements Exchange {
  private readonly res: WithFlight;
  private conn: Conn | undefined;
  private readonly head: string;
  private settled = false;
  private clientGone = false;
  private retried = false;
  private bodyDone: boolean;
  /** The request body is paused because the upstream socket is full. */
  private uploadPaused = false;
  /** The upstream socket is paused because the client's socket is full. */
  private downloadPaused = false;
  private keepAlive = false;
  private idleHintMs: number | undefined;
  private pausedAt = 0;
  private requestListeners: { data: (chunk: Buffer) => void; end: () => void } | undefined;
  private clientDrain: (() => void) | undefined;

  constructor(
    private readonly req: IncomingMessage,
    res: ServerResponse,
    private readonly target: ForwardTarget,
    private readonly pool: UpstreamPool,
    private readonly body: Body,
    private readonly log: Logger | undefined,
    /** How long a client that stopped reading may hold the upstream connection. */
    private readonly clientSendTimeoutMs: number,
  ) {
    this.res = res;
    this.head = requestHead(req, target);
    this.bodyDone = body === "none";
    this.res[FLIGHT] = this;
    res.on("close", onResponseClose);
  }

  start(fresh: boolean): void {
    const conn = this.pool.acquire(fresh);
    this.conn = conn;
    conn.exchange = this;
    conn.parser.start(this, this.req.method === "HEAD");
    conn.socket.write(this.head, "latin1");
    if (this.body !== "none") {
      const req = this.req;
      req.on("error", noop);
      // Listeners are made only for requests with a body: most requests allocate none of them.
      const listeners = (this.requestListeners ??= { data: (c: Buffer) => this.onRequestData(c), end: () => this.onRequestEnd() });
      req.on("data", listeners.data);
      req.once("end", listeners.end);
    }
  }

  // --- request body -------------------------------------------------------------------------

  private onRequestData(chunk: Buffer): void {
    const socket = this.conn?.socket;
    // An empty chunk would read as the chunked terminator upstream.
    if (socket === undefined || chunk.length === 0) return;
    let ok: boolean;
    if (this.body === "chunked") {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
      socket.write(chunk);
      ok = socket.write("\r\n", "latin1");
      socket.uncork();
    } else {
      ok = socket.write(chunk);
    }
    if (!ok) {
      this.uploadPaused = true;
      this.req.pause();
    }
  }

  private onRequestEnd(): void {
    this.bodyDone = true;
    if (this.requestListeners) this.req.off("data", this.requestListeners.data);
    if (this.body === "chunked") this.conn?.socket.write("0\r\n\r\n", "latin1");
  }

  onConnDrain(): void {
    if (!this.uploadPaused) return;
    this.uploadPaused = false;
    if (!this.settled) this.req.resume();
  }

  /**
   * The exchange is over with the body maybe not all read: stop forwarding it and let the rest
   * drain and be discarded, as Node does with a body nobody read, so the client connection stays
   * usable for its next request. The no-op error listener stays for a client that aborts later.
   */
  private releaseBody(): void {
    if (this.bodyDone) return;
    if (this.requestListeners) {
      this.req.off("data", this.requestListeners.data);
      this.req.off("end", this.requestListeners.end);
    }
    if (!this.req.destroyed) this.req.resume();
  }

  onInactive(connecting: boolean): "fail" | "wait" | "done" {
    // A pipelined response still queued behind another never sees its ServerResponse close when
    // the client disconnects; the client's socket says so.
    if (this.req.socket.destroyed) {
      this.onClientClose();
      return "done";
    }
    // A connect that has not completed is the upstream's silence, whatever the client is doing.
    if (connecting) return "fail";
    if (this.downloadPaused) {
      // A client that stops reading may hold an upstream connection only this long (nginx's
      // send_timeout): then its connection is cut, and the exchange with it.
      if (performance.now() - this.pausedAt < this.clientSendTimeoutMs) return "wait";
      this.req.socket.destroy();
      this.onClientClose();
      return "done";
    }
    // Still receiving the request body from the client (Node's requestTimeout bounds that).
    return !this.bodyDone && !this.uploadPaused ? "wait" : "fail";
  }

  // --- response -----------------------------------------------------------------------------

  onHead(head: ResponseHead): void {
    const res = this.res;
    this.keepAlive = head.keepAlive;
    this.idleHintMs = head.idleHintMs;
    try {
      res.writeHead(head.status, head.reason || undefined, responseHeaders(head.rawHeaders, head.connection));
    } catch (err) {
      // Node refused a status line or header the upstream sent: the upstream is at fault. Undo what
      // writeHead kept before throwing, so the 502 goes out with its own reason phrase.
      res.statusMessage = "";
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      this.giveUp();
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
    }
  }

  onBody(chunk: Buffer, last: boolean): void {
    const res = this.res;
    if (last) {
      res.end(chunk);
      return;
    }
    if (!res.write(chunk) && !this.downloadPaused && !res.destroyed) {
      this.downloadPaused = true;
      this.pausedAt = performance.now();
      this.conn?.socket.pause();
      res.once("drain", (this.clientDrain ??= () => this.onClientDrain()));
    }
  }

  private onClientDrain(): void {
    this.downloadPaused = false;
    const socket = this.conn?.socket;
    if (socket === undefined || this.settled) return;
    // The inactivity timer may have fired (and been ignored) while paused; it only re-arms on activity.
    socket.setTimeout(this.pool.timeoutMs);
    socket.resume();
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    if (!this.res.writableEnded) this.res.end();
    const conn = this.conn;
    this.conn = undefined;
    this.releaseBody();
    if (conn === undefined) return;
    // The last bytes may have filled the client's socket: they are Node's to flush now, and the
    // connection, done with this response, must not go idle paused.
    if (this.downloadPaused) {
      this.downloadPaused = false;
      if (this.clientDrain) this.res.off("drain", this.clientDrain);
      conn.socket.resume();
    }
    const reusable = this.keepAlive && this.bodyDone;
    const hint = this.idleHintMs;
    const idleMs = hint === undefined ? IDLE_SOCKET_MS : Math.min(IDLE_SOCKET_MS, hint - 1000);
    this.pool.release(conn, reusable, this.target.keepalive, idleMs);
  }

  onConnFailure(err: Error, timedOut: boolean): void {
    if (this.settled) return;
    const conn = this.conn;
    if (
      conn !== undefined && conn.reused && !timedOut && !conn.parser.started && !this.retried && this.body === "none" &&
      !this.clientGone && !this.pool.destroyed && IDEMPOTENT.has(this.req.method ?? "")
    ) {
      this.retried = true;
      this.log?.debug({ upstream: this.target.upstreamLabel, err: err.message }, "reused upstream connection was closed; retrying on a new one");
      try {
        this.start(true);
      } catch (e) {
        // Called from a socket event: nothing may escape into the event loop.
        this.fail(e instanceof Error ? e : new Error(String(e)), false);
      }
      return;
    }
    this.fail(err, timedOut);
  }

  private fail(err: Error, timedOut: boolean): void {
    this.settled = true;
    this.conn = undefined;
    this.releaseBody();
    const res = this.res;
    if (this.clientGone || res.destroyed || res.writableEnded) {
      this.log?.debug({ upstream: this.target.upstreamLabel, err: err.message }, "upstream request ended after the client left");
      return;
    }
    try {
      failUpstream(res, timedOut ? 504 : 502, this.target.upstreamLabel, err, this.log);
    } catch (e) {
      this.log?.error({ upstream: this.target.upstreamLabel, err: e instanceof Error ? e.message : String(e) }, "could not report an upstream failure");
      res.destroy();
    }
  }

  /** Drops the connection from under the exchange: it is mid-response and cannot be reused. */
  private giveUp(): void {
    const conn = this.conn;
    this.conn = undefined;
    conn?.abandon();
  }

  /** The client went away (or its response was destroyed) before the response was complete. */
  onClientClose(): void {
    this.res[FLIGHT] = undefined;
    if (this.settled || this.res.writableFinished) return;
    this.clientGone = true;
    this.settled = true;
    this.releaseBody();
    this.giveUp();
  }
}
