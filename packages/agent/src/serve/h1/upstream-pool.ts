import { connect, type Socket } from "node:net";
import type { Target } from "../engine.js";
import { ResponseParser, type ResponseSink } from "./response-parser.js";

/**
 * Upstream connections for the h1 engine: one pool per target, each connection carrying one
 * request at a time (no pipelining).
 *
 * `keepalive` caps *idle* connections, as nginx's `keepalive` and the other engines do: concurrency
 * is never capped, and a connection released while the idle list is full is closed. Idle
 * connections are reused most-recently-used first and closed after IDLE_SOCKET_MS (or sooner when
 * the upstream's Keep-Alive hint says so), before a Node upstream's 5 s default would close them
 * under a request.
 *
 * Every socket event goes through the connection's own listeners, set once at connect, to whichever
 * exchange holds the connection; nothing is added or removed per request.
 */

export const IDLE_SOCKET_MS = 4000;
// Idle expiry is checked in sweeps rather than with a timer per connection: re-arming a timer on
// every release and acquire costs more than the request itself on a fast path.
const SWEEP_MS = 250;

/** What a connection needs from the request it carries. */
export interface Exchange extends ResponseSink {
  /** The connection failed under this exchange: error, close, inactivity or a refused response. */
  onConnFailure(err: Error, timedOut: boolean): void;
  /** The socket's write buffer drained. */
  onConnDrain(): void;
  /**
   * The connection saw no activity for a whole timeout period. "fail": the upstream's silence (a
   * 504); "wait": the exchange is waiting on its client, look again one period later; "done": the
   * exchange has given the connection up itself (its client is gone or would not read).
   */
  onInactive(connecting: boolean): "fail" | "wait" | "done";
  /** Every byte of one upstream read has been handed on (the exchange may hold writes until then). */
  afterRead?(): void;
}

/**
 * Every upstream socket reads into this one buffer (net's `onread`), skipping the Readable stream
 * machinery on the hottest path. Safe because reads are handled synchronously, one at a time, on
 * this thread; whatever outlives a read (body chunks handed to a client, a partial head or chunk
 * line) is copied out by the parser. `pause()`/`resume()` still stop and restart reading.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class UpstreamTimeout extends Error {}

export class Conn {
  readonly parser = new ResponseParser();
  exchange: Exchange | undefined;
  /** Taken from the idle list, so the upstream may have closed it just as the request went out. */
  reused = false;
  idleUntil = 0;
  closed = false;

  constructor(
    private readonly pool: UpstreamPool,
    readonly socket: Socket,
  ) {
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
    socket.on("timeout", this.onTimeout);
    socket.on("drain", this.onDrain);
  }

  /**
   * Takes the connection out of service at once: out of the pool and marked closed now, not when
   * the socket's 'close' event comes a loop phase later, so nothing can acquire it in between.
   */
  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.pool.forget(this);
    }
    this.socket.destroy();
  }

  /** The exchange gives the connection up mid-flight (its client left): it cannot carry another request. */
  abandon(): void {
    this.exchange = undefined;
    this.parser.sink = undefined;
    this.close();
  }

  private fail(err: Error, timedOut: boolean): void {
    const ex = this.exchange;
    this.exchange = undefined;
    this.parser.sink = undefined;
    this.close();
    ex?.onConnFailure(err, timedOut);
  }

  /**
   * `nread` bytes arrived in the shared READ_BUFFER; they are valid only until this returns. Always
   * returns true: backpressure goes through socket.pause(), which stops reading just the same.
   */
  onRead(nread: number): boolean {
    // Bytes nobody asked for (on an idle connection) would be read as the next request's response.
    if (this.exchange === undefined) {
      this.close();
      return true;
    }
    try {
      this.parser.execute(READ_BUFFER.subarray(0, nread));
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
      return true;
    }
    // The response ended (and the connection may already be back in the idle list) with more bytes
    // behind it: the connection can no longer be trusted.
    if (this.parser.trailing) this.close();
    this.exchange?.afterRead?.();
    return true;
  }

  private readonly onEnd = (): void => {
    if (this.exchange === undefined) {
      this.close();
      return;
    }
    try {
      this.parser.finish();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
    }
  };

  private readonly onError = (err: Error): void => {
    this.fail(err, false);
  };

  private readonly onClose = (): void => {
    if (!this.closed) {
      this.closed = true;
      this.pool.forget(this);
    }
    if (this.exchange !== undefined) this.fail(new Error("upstream connection closed"), false);
  };

  private readonly onTimeout = (): void => {
    const ex = this.exchange;
    if (ex === undefined) {
      this.close();
      return;
    }
    const verdict = ex.onInactive(this.socket.connecting);
    if (verdict === "fail") this.fail(new UpstreamTimeout("upstream did not answer in time"), true);
    // Waiting on the client: the timer only re-arms on socket activity, which a stalled client may
    // never cause, so re-arm it here and look again one period later.
    else if (verdict === "wait") this.socket.setTimeout(this.pool.timeoutMs);
  };

  private readonly onDrain = (): void => {
    this.exchange?.onConnDrain();
  };
}

export class UpstreamPool {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private sweeper: NodeJS.Timeout | undefined;
  /** No longer in the table: idle connections are gone and busy ones close once released. */
  retired = false;
  /** Closed outright: nothing may be opened through it any more. */
  destroyed = false;

  constructor(
    private readonly target: Target,
    /** Longest upstream silence (connect included) before an exchange fails with a 504. */
    readonly timeoutMs: number,
  ) {}

  /** The most recently used idle connection, or a new one (always new when `fresh`). */
  acquire(fresh: boolean): Conn {
    if (!fresh) {
      let conn: Conn | undefined;
      while ((conn = this.idle.pop()) !== undefined) {
        if (conn.closed || conn.socket.destroyed) continue;
        conn.reused = true;
        return conn;
      }
    }
    const t = this.target;
    let conn: Conn | undefined;
    const onread = { buffer: READ_BUFFER, callback: (n: number) => (conn as Conn).onRead(n) };
    const socket = t.kind === "unix" ? connect({ path: t.path, onread }) : connect({ host: t.host, port: t.port, noDelay: true, onread });
    socket.setTimeout(this.timeoutMs);
    conn = new Conn(this, socket);
    this.all.add(conn);
    return conn;
  }

  /** Back from an exchange. Kept only when reusable and the idle list has room. */
  release(conn: Conn, reusable: boolean, keepalive: number, idleMs: number): void {
    conn.exchange = undefined;
    if (!reusable || this.retired || conn.closed || conn.socket.destroyed || idleMs <= 0 || this.idle.length >= keepalive) {
      conn.close();
      return;
    }
    conn.idleUntil = Date.now() + idleMs;
    this.idle.push(conn);
    if (this.sweeper === undefined) this.sweeper = setInterval(this.sweep, SWEEP_MS).unref();
  }

  /** Connections open through this pool, busy or idle. */
  get open(): number {
    return this.all.size;
  }

  forget(conn: Conn): void {
    this.all.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
  }

  retire(): void {
    this.retired = true;
    for (const conn of this.idle.splice(0)) conn.close();
    this.stopSweeping();
  }

  /** Every connection, busy or idle, is closed; exchanges on busy ones fail with a 502. */
  destroy(): void {
    this.destroyed = true;
    this.retire();
    // Not close(): the busy connections' own 'close' events must still fail their exchanges.
    for (const conn of [...this.all]) conn.socket.destroy();
  }

  private readonly sweep = (): void => {
    const now = Date.now();
    let kept = 0;
    const expired: Conn[] = [];
    for (const conn of this.idle) {
      if (conn.idleUntil <= now) expired.push(conn);
      else this.idle[kept++] = conn;
    }
    this.idle.length = kept;
    for (const conn of expired) conn.close();
    if (kept === 0) this.stopSweeping();
  };

  private stopSweeping(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
