import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { dict, statsField, type Keys } from "@switchyard/shared";

export interface TrafficCountersOptions {
  /** A connection of their own (redis.ts statsConnection, for the reasons below); connected in start(), closed in stop(). */
  redis: Redis;
  keys: Keys;
  /** Flush period (AGENT_STATS_FLUSH_MS; the agent uses 1000). */
  flushMs: number;
  log: Logger;
  /** stop() waits at most this long for the final flush; what is still unflushed then is logged and dropped. */
  finalFlushTimeoutMs?: number;
}

export interface Tally {
  requests: number;
  errors: number;
}

export interface CountersStatus {
  /** Deltas not yet acknowledged by Redis, per upstream label. */
  unflushed: Record<string, Tally>;
  /** A MULTI was sent and its reply has not arrived yet. */
  inFlight: boolean;
  /** Flushes whose EXEC succeeded, and attempts that failed. */
  flushes: number;
  failures: number;
}

function tally(map: Map<string, Tally>, label: string, error: number): void {
  let t = map.get(label);
  if (t === undefined) {
    t = { requests: 0, errors: 0 };
    map.set(label, t);
  }
  t.requests += 1;
  t.errors += error;
}

/** The proxy's label for requests the edge answered itself: not upstream traffic. */
const EDGE_LABEL = "-";
/** The client went away before the response was over: says nothing about the upstream. */
const CLIENT_CLOSED = 499;

/**
 * Per-upstream request and error counts (error = status >= 500, the edge's own 502/504 included),
 * kept in memory on the request path and added to the fleet-wide `keys.stats` hash every `flushMs`
 * with one MULTI of HINCRBYs.
 *
 * Exactly once: only what EXEC acknowledged is subtracted from the pending deltas, so a failed flush
 * leaves them to be added to and sent again. Ambiguous outcomes are what would double-count, so the
 * counters use a connection of their own rather than the link's command connection, which resends
 * unanswered commands after a reconnect and times commands out while a paused Redis may still run
 * them later: here a command is sent only on a ready connection, never resent, never timed out
 * (a paused Redis delays the reply, it does not make it unknown; redis.ts statsConnection), and
 * one flush is in flight at a time.
 * The one outcome left unknown is a connection that closes with EXEC unanswered (Redis killed
 * mid-flush, a network error); those deltas are kept and sent again.
 */
export class TrafficCounters {
  readonly redis: Redis;
  private readonly pending = new Map<string, Tally>();
  /** Per route host, then upstream label: what a canary's hosts sent to the new upstream (nested Maps: nothing built per request). */
  private readonly byRoute = new Map<string, Map<string, Tally>>();
  private flushing: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private flushes = 0;
  private failures = 0;

  constructor(private readonly opts: TrafficCountersOptions) {
    this.redis = opts.redis;
  }

  /** The proxy's onResult hook: called once per request, so it only touches Maps. `route` "" (the default upstream) is counted per upstream only. */
  readonly record = (upstream: string, status: number, route = ""): void => {
    if (upstream === EDGE_LABEL || status === CLIENT_CLOSED) return;
    const error = status >= 500 ? 1 : 0;
    tally(this.pending, upstream, error);
    if (route === "") return;
    let perRoute = this.byRoute.get(route);
    if (perRoute === undefined) {
      perRoute = new Map();
      this.byRoute.set(route, perRoute);
    }
    tally(perRoute, upstream, error);
  };

  start(): void {
    if (this.timer || this.stopped) return;
    this.redis.connect().catch(() => undefined); // failures surface as events and retries
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs);
    this.timer.unref();
  }

  status(): CountersStatus {
    // Keyed by upstream label (user data): no prototype to collide with.
    const unflushed = dict([...this.pending].map(([label, t]) => [label, { ...t }] as const));
    return { unflushed, inFlight: this.flushing !== undefined, flushes: this.flushes, failures: this.failures };
  }

  /**
   * Sends the pending deltas; resolves true when nothing is left unflushed from before the call.
   * Joins a flush already in flight instead of starting a second one. Never rejects.
   */
  flush(): Promise<boolean> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0 && this.byRoute.size === 0) return Promise.resolve(true);
    if (this.redis.status !== "ready") return Promise.resolve(false);
    this.flushing = this.send().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async send(): Promise<boolean> {
    const { keys, log } = this.opts;
    const sent: Array<{ label: string; kind: keyof Tally; n: number; route?: string }> = [];
    const multi = this.redis.multi();
    for (const [route, perRoute] of this.byRoute) {
      for (const [label, t] of perRoute) {
        if (t.requests > 0) {
          sent.push({ label, kind: "requests", n: t.requests, route });
          multi.hincrby(keys.stats, statsField.routeRequests(route, label), t.requests);
        }
        if (t.errors > 0) {
          sent.push({ label, kind: "errors", n: t.errors, route });
          multi.hincrby(keys.stats, statsField.routeErrors(route, label), t.errors);
        }
      }
    }
    for (const [label, t] of this.pending) {
      if (t.requests > 0) {
        sent.push({ label, kind: "requests", n: t.requests });
        multi.hincrby(keys.stats, statsField.requests(label), t.requests);
      }
      if (t.errors > 0) {
        sent.push({ label, kind: "errors", n: t.errors });
        multi.hincrby(keys.stats, statsField.errors(label), t.errors);
      }
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await multi.exec();
    } catch (err) {
      this.failures += 1;
      log.debug({ err: (err as Error).message }, "traffic counters not flushed; kept for the next flush");
      return false;
    }
    if (results === null) {
      this.failures += 1;
      return false;
    }
    // Records that arrived while EXEC was under way stay: only what Redis acknowledged is subtracted.
    let allApplied = true;
    sent.forEach(({ label, kind, n, route }, i) => {
      const err = results?.[i]?.[0];
      if (err) {
        allApplied = false;
        log.warn({ upstream: label, route, err: err.message }, "traffic counter not applied; kept for the next flush");
        return;
      }
      const map = route === undefined ? this.pending : this.byRoute.get(route);
      const t = map?.get(label);
      if (map === undefined || t === undefined) return;
      t[kind] -= n;
      if (t.requests === 0 && t.errors === 0) map.delete(label);
      if (route !== undefined && map.size === 0) this.byRoute.delete(route);
    });
    if (allApplied) this.flushes += 1;
    else this.failures += 1;
    return allApplied;
  }

  /** Stops the timer and makes one last flush, waiting at most `finalFlushTimeoutMs`; then disconnects. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    const boundMs = this.opts.finalFlushTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    const final = (async () => {
      await this.flushing;
      if ((this.pending.size > 0 || this.byRoute.size > 0) && this.redis.status !== "ready") await this.readyOr(expired);
      await this.flush();
    })();
    await Promise.race([final, expired]);
    clearTimeout(timer);
    if ((this.pending.size > 0 || this.byRoute.size > 0)) {
      this.opts.log.warn({ unflushed: this.status().unflushed }, "traffic counters lost at shutdown: Redis did not take the last flush in time");
    }
    this.redis.disconnect();
  }

  private async readyOr(expired: Promise<void>): Promise<void> {
    let onReady: (() => void) | undefined;
    const ready = new Promise<void>((resolve) => {
      onReady = resolve;
      this.redis.once("ready", resolve);
    });
    await Promise.race([ready, expired]);
    if (onReady) this.redis.off("ready", onReady);
  }
}
