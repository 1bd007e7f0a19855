import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { ForwardTarget } from "../forward.js";
import { IDEMPOTENT, idleMsFor, reusableAfter } from "../upstream-policy.js";
import type { ResponseHead } from "./response-parser.js";
import type { Conn, Exchange } from "./upstream-conn.js";
import type { UpstreamPool } from "./upstream-pool.js";

/**
 * The one upstream exchange, whichever front door a request came through: acquire a pooled
 * connection, write the request head (and hand the socket to the body upload, if any), the single
 * retry of a reused connection closed under the request, the next target after a failure,
 * inactivity verdicts (504, or wait on a slow client up to the send timeout), backpressure
 * from the client to the upstream, release under the pool's reuse rules, and 502/504.
 *
 * The client side is a ClientSink: the raw socket on the fast path (front/socket-sink.ts), Node's
 * ServerResponse on the other door (node-sink.ts).
 *
 * Invariants: an exchange ends exactly once (complete, failed, or abandoned by its client), and
 * says so to its sink exactly once (end, fail or gone); a connection is released only after a
 * response the pool may reuse it after, and only with the whole request body sent.
 */

/**
 * Targets of a pool tried for one request after failures before a response (connect refused or
 * timed out, reset before the first byte), the first included: enough to get past one or two dead
 * targets of a pool, bounded so a pool of dead targets does not multiply a request's latency.
 */
export const MOVE_ON_ATTEMPTS = 4;

/** Where the exchange finds a target's connections (Upstreams). */
export interface PoolSource {
  pool(target: ForwardTarget): UpstreamPool;
}

/** A connection that never reached the upstream: the request was not sent, whatever its method. */
const connectFailed = (err: Error): boolean => (err as NodeJS.ErrnoException).syscall === "connect";

/** Where an exchange delivers the response. */
export interface ClientSink {
  /** The final response head. False: it cannot be passed on (the exchange then fails with 502). */
  head(head: ResponseHead): boolean;
  /** A body chunk (`last` completes a Content-Length body). False: the client is not keeping up; the exchange pauses the upstream until resume(). */
  body(chunk: Buffer, last: boolean): boolean;
  /** One upstream read has been handed on: writes held for it may go out. */
  flush(): void;
  /** The response is complete. */
  end(): void;
  /** The upstream failed (502) or went silent (504): an answer while the status line is still the edge's, else a cut. */
  fail(status: 502 | 504): void;
  /** The exchange was given up because the client left (or was cut): nothing more is written. */
  gone(): void;
  /** The client's connection is closed. */
  readonly closed: boolean;
  /** Closes the client's connection (a client that stopped reading for the whole send timeout). */
  cut(): void;
}

/** A request body on its way upstream (Node's door; the fast path takes no bodies). */
export interface Upload {
  /** Called once the head is written: starts moving the body onto `socket`. */
  start(socket: Socket): void;
  /** The whole body has been written. */
  readonly done: boolean;
  /** Waiting for the upstream socket to drain. */
  readonly paused: boolean;
  /** The upstream socket drained. */
  drained(): void;
  /** The exchange is over: stop forwarding; what is left of the body is read and dropped. */
  stop(): void;
}

export class UpstreamExchange implements Exchange {
  private sink: ClientSink | undefined;
  private target: ForwardTarget | undefined;
  private pool: UpstreamPool | undefined;
  private head = "";
  private method = "";
  private upload: Upload | undefined;
  private conn: Conn | undefined;
  private settled = true;
  private retried = false;
  /** Targets this request has been sent to (1 on the happy path). */
  private attempts = 0;
  /** Keys of targets that failed this request; reused across requests, touched only after a failure. */
  private readonly tried: string[] = [];
  /** The connection's inactivity verdict came while it was still connecting. */
  private connectTimedOut = false;
  private status = 0;
  private keepAlive = false;
  private idleHintMs: number | undefined;
  /** The upstream socket is paused because the client's side is full. */
  private downloadPaused = false;
  private pausedAt = 0;

  constructor(
    private readonly log: Logger | undefined,
    private readonly pools: PoolSource,
  ) {}

  /** From begin() until it has ended. */
  get active(): boolean {
    return !this.settled;
  }

  /** Starts one exchange. The fast path reuses one exchange object for each request of a connection. */
  begin(sink: ClientSink, target: ForwardTarget, pool: UpstreamPool, head: string, method: string, upload: Upload | undefined): void {
    this.sink = sink;
    this.target = target;
    this.pool = pool;
    this.head = head;
    this.method = method;
    this.upload = upload;
    this.settled = false;
    this.retried = false;
    this.attempts = 1;
    if (this.tried.length !== 0) this.tried.length = 0;
    this.status = 0;
    this.downloadPaused = false;
    this.send(false);
  }

  private send(fresh: boolean): void {
    try {
      const conn = (this.pool as UpstreamPool).acquire(fresh);
      this.conn = conn;
      this.connectTimedOut = false;
      conn.exchange = this;
      conn.parser.start(this, this.method === "HEAD");
      conn.socket.write(this.head, "latin1");
      this.upload?.start(conn.socket);
    } catch (err) {
      // Called from socket events too: nothing may escape into the event loop.
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
    }
  }

  onHead(head: ResponseHead): void {
    const health = (this.target as ForwardTarget).health;
    if (health !== undefined) {
      const chooser = (this.target as ForwardTarget).chooser;
      if (chooser !== undefined && chooser.retryOn.size !== 0 && chooser.retryOn.has(head.status)) {
        if (this.retryStatus(head.status)) return;
      } else if (health.failures !== 0) health.failures = 0;
    }
    this.status = head.status;
    this.keepAlive = head.keepAlive;
    this.idleHintMs = head.idleHintMs;
    if ((this.sink as ClientSink).head(head)) return;
    // The connection is mid-response: it cannot carry anything else.
    const conn = this.conn;
    this.conn = undefined;
    conn?.abandon();
    this.fail(new Error("the upstream's response head could not be passed on"), false);
  }

  onBody(chunk: Buffer, last: boolean): void {
    const sink = this.sink as ClientSink;
    if (!sink.body(chunk, last) && !this.downloadPaused && !sink.closed) {
      this.downloadPaused = true;
      this.pausedAt = performance.now();
      this.conn?.socket.pause();
    }
  }

  afterRead(): void {
    this.sink?.flush();
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    const conn = this.conn;
    this.conn = undefined;
    const upload = this.upload;
    if (conn !== undefined) {
      // Done with this response: the connection must not go idle paused.
      if (this.downloadPaused) conn.socket.resume();
      const reusable = reusableAfter(this.method, this.status, this.keepAlive) && (upload === undefined || upload.done);
      (this.pool as UpstreamPool).release(conn, reusable, (this.target as ForwardTarget).keepalive, idleMsFor(this.idleHintMs));
    }
    this.downloadPaused = false;
    upload?.stop();
    (this.sink as ClientSink).end();
  }

  onConnDrain(): void {
    this.upload?.drained();
  }

  onConnFailure(err: Error, timedOut: boolean): void {
    if (this.settled) return;
    this.failedTarget(err, timedOut);
  }

  private failedTarget(err: Error, timedOut: boolean): void {
    const conn = this.conn;
    // The keep-alive race every pooled client meets: the upstream closed a reused connection just as
    // the request went out, before a byte of the response. Safe to repeat once, without a body.
    if (
      conn !== undefined && conn.reused && !timedOut && !conn.parser.started && !this.retried && this.upload === undefined &&
      !(this.sink as ClientSink).closed && !(this.pool as UpstreamPool).destroyed && IDEMPOTENT.has(this.method)
    ) {
      this.retried = true;
      this.log?.debug({ upstream: this.target?.upstreamLabel, err: err.message }, "reused upstream connection was closed; retrying on a new one");
      this.send(true);
      return;
    }
    const target = this.target as ForwardTarget;
    const chooser = target.chooser;
    if (chooser !== undefined && !(this.pool as UpstreamPool).destroyed) {
      const notSent = timedOut ? this.connectTimedOut : connectFailed(err);
      chooser.failed(target, timedOut ? (notSent ? "connect timed out" : "timed out") : err.message);
      // Another target when this one failed before any response, and the request can be sent again:
      // no body, and either it never left (connect failed) or its method is idempotent.
      if (
        this.attempts < MOVE_ON_ATTEMPTS && this.upload === undefined && (conn === undefined || !conn.parser.started) &&
        !(this.sink as ClientSink).closed && (notSent || (!timedOut && IDEMPOTENT.has(this.method))) && this.moveOn(err.message)
      ) return;
    }
    this.fail(err, timedOut);
  }

  /** A status the pool retries (its `retry.on`): another target, when one is left and the request may be repeated. */
  private retryStatus(status: number): boolean {
    const target = this.target as ForwardTarget;
    const chooser = target.chooser;
    if (chooser === undefined) return false;
    chooser.failed(target, `answered ${status}`);
    if (this.attempts >= chooser.retryTries || this.upload !== undefined || !IDEMPOTENT.has(this.method) || (this.sink as ClientSink).closed) return false;
    this.tried.push(target.address.key);
    const next = chooser.next(this.tried);
    if (next === undefined) return false;
    // Mid-response: this connection cannot carry anything else.
    const conn = this.conn;
    this.conn = undefined;
    conn?.abandon();
    this.switchTo(next, `answered ${status}`);
    return true;
  }

  /** Sends the request to a target not yet tried; false when none is left. */
  private moveOn(reason: string): boolean {
    this.tried.push((this.target as ForwardTarget).address.key);
    const next = (this.target as ForwardTarget).chooser?.next(this.tried);
    if (next === undefined) return false;
    this.conn = undefined;
    this.switchTo(next, reason);
    return true;
  }

  private switchTo(next: ForwardTarget, reason: string): void {
    this.log?.debug({ upstream: next.upstreamLabel, from: this.target?.address.key, to: next.address.key, reason }, "trying the next target");
    this.attempts++;
    this.target = next;
    this.pool = this.pools.pool(next);
    this.retried = false;
    this.send(false);
  }

  onInactive(connecting: boolean): "fail" | "wait" | "done" {
    const sink = this.sink as ClientSink;
    // A response still queued behind another (Node's pipelining) never hears of its client leaving.
    if (sink.closed) {
      this.abandon();
      return "done";
    }
    // A connect that has not completed is the upstream's silence, whatever the client is doing.
    if (connecting) {
      this.connectTimedOut = true;
      return "fail";
    }
    if (this.downloadPaused) {
      // A client that stops reading may hold an upstream connection only so long (nginx's send_timeout).
      if (performance.now() - this.pausedAt < (this.pool as UpstreamPool).sendTimeoutMs) return "wait";
      sink.cut();
      this.abandon();
      return "done";
    }
    // Still receiving the request body from the client (Node's requestTimeout bounds that).
    const up = this.upload;
    return up !== undefined && !up.done && !up.paused ? "wait" : "fail";
  }

  /** The client's side drained: a paused download goes on. Says whether one was paused. */
  resume(): boolean {
    if (!this.downloadPaused) return false;
    this.downloadPaused = false;
    const socket = this.conn?.socket;
    if (socket !== undefined && !this.settled) {
      // The inactivity timer may have fired (and been ignored) while paused; it re-arms on activity only.
      socket.setTimeout((this.pool as UpstreamPool).timeoutMs);
      socket.resume();
    }
    return true;
  }

  /** The client left mid-exchange: the upstream connection goes with it (it is mid-response). */
  abandon(): void {
    if (this.settled) return;
    this.settled = true;
    this.upload?.stop();
    const conn = this.conn;
    this.conn = undefined;
    conn?.abandon();
    (this.sink as ClientSink).gone();
  }

  private fail(err: Error, timedOut: boolean): void {
    this.settled = true;
    this.conn = undefined;
    this.upload?.stop();
    const sink = this.sink as ClientSink;
    const status = timedOut ? 504 : 502;
    const target = this.target as ForwardTarget;
    // The address goes to the log only; the client hears of the pool at most.
    const fields = { upstream: target.upstreamLabel, address: target.address.key, status, err: err.message };
    if (sink.closed) this.log?.debug(fields, "upstream request ended after the client left");
    else this.log?.warn(fields, "upstream request failed");
    sink.fail(status);
  }
}
