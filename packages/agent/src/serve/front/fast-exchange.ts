import type { Socket } from "node:net";
import type { Logger } from "pino";
import { rawErrorResponse, upstreamFailure, type ForwardTarget } from "../engine.js";
import { IDEMPOTENT } from "../h1/flight.js";
import type { ResponseHead } from "../h1/response-parser.js";
import { IDLE_SOCKET_MS, type Conn, type Exchange, type UpstreamPool } from "../h1/upstream-pool.js";
import { clientHead, utcDate } from "./client-head.js";
import type { FastRequest } from "./request-head.js";

/**
 * The request under way on a fast-path connection (fast-conn.ts): written onto a pooled upstream
 * connection, its response written straight to the client socket, with backpressure from the
 * client to the upstream. One per client connection, reset for each request: the connection
 * carries one request at a time.
 */

/** What an exchange needs from its client connection. */
export interface ClientSide {
  readonly socket: Socket;
  /** The client's connection has closed. */
  readonly gone: boolean;
  /** The next response must close the connection (the client asked, or the server is draining). */
  wantsClose(req: FastRequest): boolean;
  /** The response is out (complete, or the edge's own 502/504): close or read the next request. */
  responded(closeAfter: boolean): void;
}

export interface ExchangeDeps {
  log: Logger | undefined;
  onResult: ((upstream: string, status: number) => void) | undefined;
  keepAliveHeader: string;
  clientSendTimeoutMs: number;
}

export class FastExchange implements Exchange {
  /** A request is under way: from begin() to its response out, its failure, or its client gone. */
  active = false;
  private req: FastRequest | undefined;
  private target: ForwardTarget | undefined;
  private pool: UpstreamPool | undefined;
  private upstreamHead = "";
  private conn: Conn | undefined;
  private settled = false;
  private retried = false;
  private started = false;
  private status = 0;
  private chunked = false;
  private closeAfter = false;
  private corked = false;
  private upstreamKeepAlive = false;
  private idleHintMs: number | undefined;
  private downloadPaused = false;
  private pausedAt = 0;

  constructor(
    private readonly client: ClientSide,
    private readonly deps: ExchangeDeps,
  ) {}

  begin(req: FastRequest, target: ForwardTarget, pool: UpstreamPool, upstreamHead: string): void {
    this.active = true;
    this.req = req;
    this.target = target;
    this.pool = pool;
    this.upstreamHead = upstreamHead;
    this.settled = false;
    this.retried = false;
    this.started = false;
    this.chunked = false;
    this.corked = false;
    this.downloadPaused = false;
    this.send(false);
  }

  private send(fresh: boolean): void {
    try {
      const conn = (this.pool as UpstreamPool).acquire(fresh);
      this.conn = conn;
      conn.exchange = this;
      conn.parser.start(this, this.req?.method === "HEAD");
      conn.socket.write(this.upstreamHead, "latin1");
    } catch (err) {
      // Called from socket events: nothing may escape into the event loop.
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
    }
  }

  onHead(head: ResponseHead): void {
    this.status = head.status;
    this.upstreamKeepAlive = head.keepAlive;
    this.idleHintMs = head.idleHintMs;
    const out = clientHead(head, this.client.wantsClose(this.req as FastRequest), this.deps.keepAliveHeader);
    this.chunked = out.chunked;
    this.closeAfter = out.closeAfter;
    this.started = true;
    // Held until the end of this upstream read, so a head and the body that came with it go out in one write.
    this.client.socket.cork();
    this.corked = true;
    this.client.socket.write(out.text, "latin1");
  }

  onBody(chunk: Buffer, _last: boolean): void {
    const s = this.client.socket;
    let ok: boolean;
    if (this.chunked) {
      if (chunk.length === 0) return; // would read as the last chunk
      s.write(`${chunk.length.toString(16)}\r\n`, "latin1");
      s.write(chunk);
      ok = s.write("\r\n", "latin1");
    } else {
      ok = s.write(chunk);
    }
    if (!ok && !this.downloadPaused && !s.destroyed) {
      this.downloadPaused = true;
      this.pausedAt = performance.now();
      this.conn?.socket.pause();
    }
  }

  afterRead(): void {
    if (this.corked) {
      this.corked = false;
      this.client.socket.uncork();
    }
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.chunked) this.client.socket.write("0\r\n\r\n", "latin1");
    this.afterRead();
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) {
      // Done with this response, the upstream connection must not go idle paused.
      if (this.downloadPaused) conn.socket.resume();
      const hint = this.idleHintMs;
      const idleMs = hint === undefined ? IDLE_SOCKET_MS : Math.min(IDLE_SOCKET_MS, hint - 1000);
      (this.pool as UpstreamPool).release(conn, this.upstreamKeepAlive, (this.target as ForwardTarget).keepalive, idleMs);
    }
    this.downloadPaused = false;
    this.report(this.status);
    this.done(true);
  }

  onConnDrain(): void {
    // No request body on this path: nothing waits for the upstream socket to drain.
  }

  /** The client's socket drained: a download paused on it goes on. Says whether one was paused. */
  onClientDrain(): boolean {
    if (!this.downloadPaused) return false;
    this.downloadPaused = false;
    const up = this.conn?.socket;
    if (up !== undefined && !this.settled) {
      // Its inactivity timer may have fired (and been ignored) while paused; it re-arms on activity only.
      up.setTimeout((this.pool as UpstreamPool).timeoutMs);
      up.resume();
    }
    return true;
  }

  onConnFailure(err: Error, timedOut: boolean): void {
    if (this.settled) return;
    const conn = this.conn;
    // The keep-alive race every pooled client meets: the upstream closed a reused connection just as
    // the request went out, before a byte of the response. Safe to repeat once for these methods.
    if (
      conn !== undefined && conn.reused && !timedOut && !conn.parser.started && !this.retried && !this.client.gone &&
      !(this.pool as UpstreamPool).destroyed && IDEMPOTENT.has((this.req as FastRequest).method)
    ) {
      this.retried = true;
      this.deps.log?.debug({ upstream: this.target?.upstreamLabel, err: err.message }, "reused upstream connection was closed; retrying on a new one");
      this.send(true);
      return;
    }
    this.fail(err, timedOut);
  }

  onInactive(connecting: boolean): "fail" | "wait" | "done" {
    const socket = this.client.socket;
    if (socket.destroyed) {
      this.abandon();
      return "done";
    }
    if (connecting || !this.downloadPaused) return "fail";
    // A client that stops reading may hold an upstream connection only so long (nginx's send_timeout).
    if (performance.now() - this.pausedAt < this.deps.clientSendTimeoutMs) return "wait";
    socket.destroy();
    this.abandon();
    return "done";
  }

  /** The client is gone (or gave up) mid-exchange: the upstream connection goes, the result is 499. */
  abandon(): void {
    if (!this.active || this.settled) return;
    this.settled = true;
    const conn = this.conn;
    this.conn = undefined;
    conn?.abandon();
    this.report(499);
    this.done(false);
  }

  private fail(err: Error, timedOut: boolean): void {
    this.settled = true;
    this.conn = undefined;
    const status = timedOut ? 504 : 502;
    const label = this.target?.upstreamLabel ?? "-";
    this.deps.log?.warn({ upstream: label, status, err: err.message }, "upstream request failed");
    this.report(status);
    const socket = this.client.socket;
    if (this.started || this.client.gone) {
      // The status line is out: only cutting the connection can tell the client.
      socket.destroy();
      this.done(false);
      return;
    }
    const f = upstreamFailure(status, label);
    const req = this.req as FastRequest;
    this.closeAfter = this.client.wantsClose(req);
    const extra = `date: ${utcDate()}\r\n${this.closeAfter ? "" : this.deps.keepAliveHeader}`;
    socket.write(rawErrorResponse(status, f.error, f.message, { close: this.closeAfter, headOnly: req.method === "HEAD", extra }), "utf8");
    this.done(true);
  }

  /** The exchange is over; `responded`: the client has a whole response and the connection may go on. */
  private done(responded: boolean): void {
    this.active = false;
    this.req = undefined;
    if (responded) this.client.responded(this.closeAfter);
  }

  private report(status: number): void {
    if (this.deps.onResult === undefined || this.target === undefined) return;
    try {
      this.deps.onResult(this.target.upstreamLabel, status);
    } catch (err) {
      this.deps.log?.error({ err }, "onResult threw");
    }
  }
}
