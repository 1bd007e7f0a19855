import { connect } from "node:net";
import type { Target } from "../table.js";
import { COOLING_TURNS, PEAK_WINDOW_MS, idleCap } from "../upstream-policy.js";
import { Conn, READ_BUFFER, type ConnOwner } from "./upstream-conn.js";

/**
 * Upstream connections, one pool per target, each connection carrying one request at a time (no
 * pipelining). What may be kept and for how long is upstream-policy.ts; this file applies it.
 *
 * A connection's life: busy (an exchange holds it) -> released -> cooling for COOLING_TURNS loop
 * turns -> idle (reusable, most recently used first) -> reused, or closed after its idle time or
 * past the idle cap. Any byte that arrives while it is not busy retires it (upstream-conn.ts):
 * nobody asked for it, and it would be read as the next request's response (the audit's D1).
 */

// Idle expiry is checked in sweeps rather than with a timer per connection: re-arming a timer on
// every release and acquire costs more than the request itself on a fast path.
const SWEEP_MS = 250;

// Loop turns, counted by a 1 ms timer that runs while some connection is cooling: it fires at most
// once per loop iteration, in the timers phase, so a connection released in turn t (during some
// poll phase) and reusable from turn t + COOLING_TURNS (two timer phases later) has seen a whole poll
// phase in between. A timer rather than setImmediate: a pending immediate turns every poll into a
// non-blocking one, and the loop would spin between requests instead of waiting for them.
let turn = 0;
let ticker: NodeJS.Timeout | undefined;
const coolingPools = new Set<UpstreamPool>();

function tick(): void {
  turn++;
  const now = Date.now();
  for (const pool of coolingPools) if (pool.promote(now)) coolingPools.delete(pool);
  if (coolingPools.size > 0) ticker?.refresh();
  else ticker = undefined;
}

export interface PoolOptions {
  /** Longest upstream silence (connect included) before an exchange fails with a 504. */
  timeoutMs: number;
  /** How long a client that stopped reading may hold a connection (upstream-policy.ts CLIENT_SEND_TIMEOUT_MS). */
  sendTimeoutMs: number;
}

export class UpstreamPool implements ConnOwner {
  /** Reusable connections, most recently released last. */
  private readonly idle: Conn[] = [];
  /** Released, oldest first, not yet reusable. A connection closed while here is skipped later. */
  private cooling: Conn[] = [];
  private readonly all = new Set<Conn>();
  private sweeper: NodeJS.Timeout | undefined;
  /**
   * Most connections in use at once (busy, or cooling on their way back) in this window and the
   * last one: the default idle cap follows them, so a steady load finds its connections idle again.
   */
  private peak = 0;
  private lastPeak = 0;
  private windowEnd = Date.now() + PEAK_WINDOW_MS;
  /** No longer in the table: idle connections are gone and busy ones close once released. */
  retired = false;
  /** Closed outright: nothing may be opened through it any more. */
  destroyed = false;
  readonly timeoutMs: number;
  readonly sendTimeoutMs: number;

  constructor(
    private readonly target: Target,
    opts: PoolOptions,
  ) {
    this.timeoutMs = opts.timeoutMs;
    this.sendTimeoutMs = opts.sendTimeoutMs;
  }

  /** The most recently used idle connection, or a new one (always new when `fresh`). */
  acquire(fresh: boolean): Conn {
    let conn: Conn | undefined;
    if (!fresh) {
      while ((conn = this.idle.pop()) !== undefined && (conn.closed || conn.socket.destroyed));
      if (conn !== undefined) conn.reused = true;
    }
    if (conn === undefined) conn = this.connect();
    const inUse = this.all.size - this.idle.length;
    if (inUse > this.peak) this.peak = inUse;
    return conn;
  }

  private connect(): Conn {
    const t = this.target;
    let conn: Conn | undefined;
    const onread = { buffer: READ_BUFFER, callback: (n: number) => (conn as Conn).onRead(n) };
    const socket = t.kind === "unix" ? connect({ path: t.path, onread }) : connect({ host: t.host, port: t.port, noDelay: true, onread });
    socket.setTimeout(this.timeoutMs);
    conn = new Conn(this, socket);
    this.all.add(conn);
    return conn;
  }

  /**
   * Back from an exchange. Kept (cooling first) only when the exchange says it may carry another
   * request (upstream-policy.ts reusableAfter) and its target keeps idle connections at all.
   */
  release(conn: Conn, reusable: boolean, keepalive: number | undefined, idleMs: number): void {
    conn.exchange = undefined;
    if (!reusable || keepalive === 0 || this.retired || conn.closed || conn.socket.destroyed || idleMs <= 0) {
      conn.close();
      return;
    }
    conn.keepalive = keepalive;
    conn.idleMs = idleMs;
    conn.releasedAt = turn;
    this.cooling.push(conn);
    coolingPools.add(this);
    ticker ??= setTimeout(tick, 1).unref();
  }

  /** Moves connections that have cooled long enough to the idle list; true once none is left cooling. */
  promote(now: number): boolean {
    let n = 0;
    while (n < this.cooling.length && turn - (this.cooling[n] as Conn).releasedAt >= COOLING_TURNS) n++;
    if (n === 0) return this.cooling.length === 0;
    const ready = n === this.cooling.length ? this.cooling : this.cooling.slice(0, n);
    this.cooling = n === this.cooling.length ? [] : this.cooling.slice(n);
    for (const conn of ready) if (!conn.closed && !conn.socket.destroyed) this.keep(conn, now);
    return this.cooling.length === 0;
  }

  /**
   * Into the idle list. The idle cap is enforced by the sweep, a quarter second later at most, not
   * here: connections cooling on their way back are still the load's, and closing them the moment a
   * burst ebbs would open them again in the next one.
   */
  private keep(conn: Conn, now: number): void {
    conn.idleUntil = now + conn.idleMs;
    this.idle.push(conn);
    if (this.sweeper === undefined) this.sweeper = setInterval(this.sweep, SWEEP_MS).unref();
  }

  /** Connections open through this pool, busy, cooling or idle. */
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
    for (const conn of this.cooling.splice(0)) conn.close();
    this.stopSweeping();
  }

  /** Every connection, busy or idle, is closed; exchanges on busy ones fail with a 502. */
  destroy(): void {
    this.destroyed = true;
    this.retire();
    // Not close(): the busy connections' own 'close' events must still fail their exchanges.
    for (const conn of [...this.all]) conn.socket.destroy();
  }

  /** Closes idle connections past their idle time, then the oldest beyond the idle cap; rolls the peak window. */
  private readonly sweep = (): void => {
    const now = Date.now();
    if (now >= this.windowEnd) {
      this.lastPeak = this.peak;
      this.peak = this.all.size - this.idle.length;
      this.windowEnd = now + PEAK_WINDOW_MS;
    }
    const peak = Math.max(this.peak, this.lastPeak);
    let excess = this.idle.length;
    let kept = 0;
    const closing: Conn[] = [];
    // Oldest first: the idle list is most recently used last.
    for (const conn of this.idle) {
      if (conn.idleUntil <= now || excess > idleCap(conn.keepalive, peak)) closing.push(conn);
      else this.idle[kept++] = conn;
      excess--;
    }
    this.idle.length = kept;
    for (const conn of closing) conn.close();
    if (kept === 0) this.stopSweeping();
  };

  private stopSweeping(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
