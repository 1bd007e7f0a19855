import { STATUS_CODES } from "node:http";
import type { BlockList, Socket } from "node:net";
import type { Logger } from "pino";
import { normalizeHost } from "@switchyard/shared";
import { rawErrorResponse, upstreamFailure, type ForwardTarget } from "../engine.js";
import { FINAL_CHUNKED, forwardedFields, peerOf, responseHeaders } from "../headers.js";
import { CRLFCRLF, MAX_HEAD_BYTES, type ResponseHead } from "../h1/response-parser.js";
import { IDLE_SOCKET_MS, type Conn, type Exchange, type UpstreamPool } from "../h1/upstream-pool.js";
import type { RouteTable } from "../table.js";
import { readRequestHead, type FastRequest } from "./request-head.js";

/**
 * One client connection on the fast path (fast-path.ts): request heads read straight off the socket,
 * forwarded on the h1 engine's pooled upstream connections, responses written straight back. It
 * skips Node's IncomingMessage/ServerResponse machinery, which alone costs about what nginx spends
 * on a whole proxied request (BENCHMARKS.md).
 *
 * Invariants:
 *  - one request at a time: a pipelined request waits, unread, until the response before it is done;
 *  - anything this path does not handle (readRequestHead's subset, a head split across reads, no
 *    route or no table yet) goes to Node's HTTP server with the unread bytes, between two requests,
 *    and the connection stays there: Node answers it exactly as it would have from the start;
 *  - every request ends in a complete response, a 502/504 while the status line is still ours, or
 *    a closed connection, and is reported once through onResult.
 */

export interface FastDeps {
  getTable(): RouteTable | undefined;
  pool(target: ForwardTarget): UpstreamPool;
  trusted: BlockList;
  log: Logger | undefined;
  onResult: ((upstream: string, status: number) => void) | undefined;
  /** Gives the socket, with `unread` put back in front, to Node's HTTP server for good. */
  handoff(socket: Socket, unread: Buffer | undefined): void;
  /** The server stopped accepting (a drain): responses go out with `Connection: close`. */
  draining(): boolean;
  keepAliveTimeoutMs: number;
  /** `Connection: keep-alive` and the Keep-Alive hint naming keepAliveTimeoutMs, as Node sends them. */
  keepAliveHeader: string;
  clientSendTimeoutMs: number;
  forget(conn: FastConn): void;
}

const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

// Date is required on responses (RFC 9110 §6.6.1) and Node adds it; formatted once a second.
let dateSecond = 0;
let dateText = "";
function utcDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

export class FastConn implements Exchange {
  private unread: Buffer | undefined;
  private busy = false;
  /** Responses already written wait for the client to read them: no next request until 'drain'. */
  private blocked = false;
  /** When the client stopped reading with no exchange under way (0: it has not). */
  private stalledAt = 0;
  private gone = false;
  private clientEnded = false;
  // The exchange under way (valid while busy).
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
    private readonly socket: Socket,
    private readonly deps: FastDeps,
  ) {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onClose);
    socket.on("error", this.onError);
    socket.on("drain", this.onClientDrain);
    socket.on("timeout", this.onTimeout);
    socket.setTimeout(deps.keepAliveTimeoutMs);
  }

  /** Closes the connection if no request is under way; says whether it did. */
  closeIfIdle(): boolean {
    if (this.busy) return false;
    this.socket.destroy();
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  // --- client side ----------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    this.unread = this.unread === undefined ? chunk : Buffer.concat([this.unread, chunk]);
    if (!this.busy && !this.blocked) this.next();
    // Bytes beyond one head's worth while a response is under way or unsent: stop reading until it is out.
    else if (this.unread.length > MAX_HEAD_BYTES) this.socket.pause();
  };

  /** Starts the next request in `unread`, or hands the connection over; one exchange at a time. */
  private next(): void {
    const buf = this.unread;
    if (buf === undefined || this.busy || this.blocked || this.gone || this.clientEnded) return;
    const end = buf.indexOf(CRLFCRLF);
    const req = end >= 0 && end <= MAX_HEAD_BYTES ? readRequestHead(buf.toString("latin1", 0, end)) : undefined;
    const resolution = req === undefined ? undefined : this.deps.getTable()?.resolve(normalizeHost(req.host), req.path);
    if (req === undefined || resolution === undefined || resolution.kind !== "target") {
      this.handoff();
      return;
    }
    this.unread = end + 4 === buf.length ? undefined : buf.subarray(end + 4);
    this.begin(req, resolution.forward);
  }

  private handoff(): void {
    const s = this.socket;
    s.off("data", this.onData);
    s.off("end", this.onEnd);
    s.off("close", this.onClose);
    s.off("error", this.onError);
    s.off("drain", this.onClientDrain);
    s.off("timeout", this.onTimeout);
    s.setTimeout(0);
    this.deps.forget(this);
    const unread = this.unread;
    this.unread = undefined;
    this.deps.handoff(s, unread);
  }

  // A client that half-closes has given up on the response under way, as Node's server (without
  // httpAllowHalfOpen) takes it: the exchange is abandoned and the connection ended.
  private readonly onEnd = (): void => {
    this.clientEnded = true;
    this.abandon();
    this.socket.end();
  };

  private readonly onError = (): void => {
    // 'close' follows; a client's reset is not the edge's error.
  };

  private readonly onClose = (): void => {
    this.gone = true;
    this.deps.forget(this);
    this.abandon();
  };

  /** The client is gone (or gave up) mid-exchange: the upstream connection goes, the result is 499. */
  private abandon(): void {
    if (!this.busy || this.settled) return;
    this.settled = true;
    this.busy = false;
    const conn = this.conn;
    this.conn = undefined;
    conn?.abandon();
    this.report(499);
  }

  private readonly onTimeout = (): void => {
    // A busy connection is the upstream timer's business.
    if (this.busy) return;
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
    if (this.blocked) {
      this.blocked = false;
      if (this.socket.isPaused()) this.socket.resume();
      this.next();
      return;
    }
    if (!this.downloadPaused) return;
    this.downloadPaused = false;
    const up = this.conn?.socket;
    if (up === undefined || this.settled) return;
    // Its inactivity timer may have fired (and been ignored) while paused; it re-arms on activity only.
    up.setTimeout((this.pool as UpstreamPool).timeoutMs);
    up.resume();
  };

  // --- the exchange ---------------------------------------------------------------------------

  private begin(req: FastRequest, target: ForwardTarget): void {
    this.busy = true;
    this.req = req;
    this.target = target;
    this.pool = this.deps.pool(target);
    this.settled = false;
    this.retried = false;
    this.started = false;
    this.chunked = false;
    this.corked = false;
    this.downloadPaused = false;
    const f = forwardedFields(peerOf(this.socket, this.deps.trusted), req.host, req.forwardedFor, req.forwardedProto, req.forwardedHost);
    this.upstreamHead =
      `${req.method} ${req.url} HTTP/1.1\r\n${req.lines}` +
      `x-forwarded-for: ${f.forwardedFor}\r\nx-real-ip: ${f.realIp}\r\nx-forwarded-proto: ${f.proto}\r\n` +
      (f.host === undefined ? "" : `x-forwarded-host: ${f.host}\r\n`) +
      (target.keepalive <= 0 ? "connection: close\r\n\r\n" : "\r\n");
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
    const req = this.req as FastRequest;
    this.status = head.status;
    this.upstreamKeepAlive = head.keepAlive;
    this.idleHintMs = head.idleHintMs;
    const fields = responseHeaders(head.rawHeaders, head.connection);
    let text = `HTTP/1.1 ${head.status} ${head.reason || STATUS_CODES[head.status] || "unknown"}\r\n`;
    let date = false;
    let coding: string | undefined;
    let closes = false;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i] as string;
      const value = fields[i + 1] as string;
      text += `${name}: ${value}\r\n`;
      if (name.length === 4) date ||= name.toLowerCase() === "date";
      else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") coding = value;
      else if (name.length === 10) closes ||= name.toLowerCase() === "connection"; // only ever "close" here
    }
    // A body leaves chunked when the client, joining the Transfer-Encoding lines kept, will read
    // chunked as the final coding, or when none is kept and the body was chunked or ran until close
    // (so the client connection survives it). Otherwise a Content-Length body leaves as it came, and
    // any other as bytes until close (responseHeaders has already said Connection: close).
    if (head.body !== "none" && (coding === undefined ? head.body !== "length" : FINAL_CHUNKED.test(coding))) {
      this.chunked = true;
      if (coding === undefined) text += "Transfer-Encoding: chunked\r\n";
    }
    this.closeAfter = closes || req.close || this.clientEnded || this.deps.draining();
    if (!closes) text += this.closeAfter ? "Connection: close\r\n" : this.deps.keepAliveHeader;
    if (!date) text += `Date: ${utcDate()}\r\n`;
    this.started = true;
    // Held until the end of this upstream read, so a head and the body that came with it go out in one write.
    this.socket.cork();
    this.corked = true;
    this.socket.write(`${text}\r\n`, "latin1");
  }

  onBody(chunk: Buffer, _last: boolean): void {
    const s = this.socket;
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
      this.socket.uncork();
    }
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.chunked) this.socket.write("0\r\n\r\n", "latin1");
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
    this.finish();
  }

  onConnDrain(): void {
    // No request body on this path: nothing waits for the upstream socket to drain.
  }

  onConnFailure(err: Error, timedOut: boolean): void {
    if (this.settled) return;
    const conn = this.conn;
    // The keep-alive race every pooled client meets: the upstream closed a reused connection just as
    // the request went out, before a byte of the response. Safe to repeat once for these methods.
    if (
      conn !== undefined && conn.reused && !timedOut && !conn.parser.started && !this.retried && !this.gone &&
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
    if (this.socket.destroyed) {
      this.onClose();
      return "done";
    }
    if (connecting || !this.downloadPaused) return "fail";
    // A client that stops reading may hold an upstream connection only so long (nginx's send_timeout).
    if (performance.now() - this.pausedAt < this.deps.clientSendTimeoutMs) return "wait";
    this.socket.destroy();
    this.onClose();
    return "done";
  }

  private fail(err: Error, timedOut: boolean): void {
    this.settled = true;
    this.conn = undefined;
    const status = timedOut ? 504 : 502;
    const label = this.target?.upstreamLabel ?? "-";
    this.deps.log?.warn({ upstream: label, status, err: err.message }, "upstream request failed");
    this.report(status);
    if (this.started || this.gone) {
      // The status line is out: only cutting the connection can tell the client.
      this.socket.destroy();
      this.busy = false;
      return;
    }
    const f = upstreamFailure(status, label);
    this.closeAfter = (this.req as FastRequest).close || this.clientEnded || this.deps.draining();
    const headOnly = (this.req as FastRequest).method === "HEAD";
    this.socket.write(rawErrorResponse(status, f.error, f.message, { close: this.closeAfter, headOnly, extra: `date: ${utcDate()}\r\n${this.closeAfter ? "" : this.deps.keepAliveHeader}` }), "utf8");
    this.finish();
  }

  /** The response is out: close, or read the next request. */
  private finish(): void {
    this.busy = false;
    this.req = undefined;
    if (this.closeAfter || this.clientEnded || this.deps.draining()) {
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
    // Not from inside this upstream read: the upstream connection just released may be the one the
    // next request acquires, and its parser is still on the stack.
    if (this.unread !== undefined) process.nextTick(() => this.next());
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
