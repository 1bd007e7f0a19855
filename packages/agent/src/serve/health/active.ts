import { request, type ClientRequest, type RequestOptions } from "node:http";
import type { Logger } from "pino";
import type { Target } from "../forward.js";
import type { RouteTable } from "../table.js";
import type { HealthRegistry } from "./registry.js";
import type { ActiveCheckPolicy } from "./target-health.js";

/**
 * Active health checks: for every target of a pool that has a `healthCheck`, this edge GETs the
 * check's path on its own, every interval plus up to 10% jitter (first probe at a random point of
 * the first interval, so a fleet does not probe in step), and feeds the verdicts to the target's
 * health (TargetHealth.probed: out after unhealthyThreshold failures in a row, back after
 * healthyThreshold successes, through slow start).
 *
 * A probe loop is keyed by pool and address and restarted only when its check changes, so a swap
 * that keeps a pool's check keeps its streaks. One probe per target at a time; a fresh connection
 * each (a kept-alive one could hide a target that just died).
 */

interface Loop {
  readonly signature: string;
  timer: NodeJS.Timeout | undefined;
  req: ClientRequest | undefined;
  stopped: boolean;
}

const JITTER = 0.1;

export class ActiveChecker {
  private readonly loops = new Map<string, Loop>();
  private closed = false;

  constructor(
    private readonly health: HealthRegistry,
    private readonly log?: Logger,
  ) {}

  /** After a swap: a loop per checked target of the table; others stop. */
  readonly reconcile = (table: RouteTable): void => {
    if (this.closed) return;
    const wanted = new Map<string, { pool: string; target: Target; check: ActiveCheckPolicy }>();
    for (const [name, pool] of table.pools) {
      const check = pool.policy.check;
      if (check === undefined) continue;
      for (const m of pool.members) wanted.set(`${name}\n${m.key}`, { pool: name, target: m.resolution.target, check });
    }
    for (const [key, loop] of this.loops) {
      const w = wanted.get(key);
      if (w === undefined || w.check.signature !== loop.signature) {
        this.stop(loop);
        this.loops.delete(key);
      }
    }
    for (const [key, w] of wanted) {
      if (this.loops.has(key)) continue;
      const loop: Loop = { signature: w.check.signature, timer: undefined, req: undefined, stopped: false };
      this.loops.set(key, loop);
      this.schedule(loop, w.pool, w.target, w.check, Math.random() * w.check.intervalMs);
    }
  };

  private schedule(loop: Loop, pool: string, target: Target, check: ActiveCheckPolicy, delayMs: number): void {
    if (loop.stopped) return;
    loop.timer = setTimeout(() => {
      loop.timer = undefined;
      const started = Date.now();
      this.probe(loop, target, check, (ok, error) => {
        if (loop.stopped) return;
        const t = this.health.get(pool, target.key);
        if (t !== undefined) {
          const change = t.probed(ok, error, check, Date.now());
          if (change !== undefined) this.health.pool(pool).checked(t, change);
        }
        const next = check.intervalMs * (1 + (Math.random() * 2 - 1) * JITTER) - (Date.now() - started);
        this.schedule(loop, pool, target, check, Math.max(0, next));
      });
    }, delayMs);
    loop.timer.unref();
  }

  /** One GET; `done` is called exactly once. */
  private probe(loop: Loop, t: Target, check: ActiveCheckPolicy, done: (ok: boolean, error: string | null) => void): void {
    const where: RequestOptions = t.kind === "unix" ? { socketPath: t.path } : { host: t.host, port: t.port };
    let finished = false;
    const finish = (ok: boolean, error: string | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      loop.req?.destroy();
      loop.req = undefined;
      done(ok, error);
    };
    const timer = setTimeout(() => finish(false, `no response within ${check.timeoutMs} ms`), check.timeoutMs);
    try {
      const req = request({
        ...where, method: "GET", path: check.path, agent: false,
        headers: { host: t.kind === "unix" ? "localhost" : t.key, "user-agent": "switchyard-agent-health", accept: "*/*", connection: "close" },
      });
      loop.req = req;
      req.on("error", (err) => finish(false, err.message.slice(0, 200)));
      req.on("response", (res) => {
        res.on("error", () => undefined);
        res.resume();
        const status = res.statusCode ?? 0;
        const ok = check.expect.some(([lo, hi]) => status >= lo && status <= hi);
        finish(ok, ok ? null : `health check answered ${status}`);
      });
      req.end();
    } catch (err) {
      finish(false, (err as Error).message.slice(0, 200));
    }
  }

  private stop(loop: Loop): void {
    loop.stopped = true;
    if (loop.timer !== undefined) clearTimeout(loop.timer);
    loop.req?.destroy();
  }

  close(): void {
    this.closed = true;
    for (const loop of this.loops.values()) this.stop(loop);
    this.loops.clear();
    this.log?.debug("active health checks stopped");
  }
}
