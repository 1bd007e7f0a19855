import type { Logger } from "pino";
import type { PoolHealthReport } from "@switchyard/shared";
import { TargetHealth, type HealthState, type PoolPolicy } from "./target-health.js";

/**
 * Every target's runtime health on this edge, by pool name and target address: what survives
 * table swaps. Compiling a table only looks entries up (a target it has never seen gets a fresh
 * one); retain(), run after a swap, forgets the targets and pools the serving table no longer
 * names and takes its per-target settings (drain, slow start). Each proxy process (worker) has its
 * own, as it has its own table.
 */

/** What retain() needs of a compiled pool (balancer.ts PoolBalancer). */
export interface PoolView {
  readonly name: string;
  readonly policy: PoolPolicy;
  readonly members: readonly { readonly key: string; readonly drain: boolean }[];
}

/** One target's state, as the agent's upstream-health metric takes it. */
export interface TargetStateRow {
  pool: string;
  target: string;
  state: HealthState;
}

export class PoolHealth {
  readonly targets = new Map<string, TargetHealth>();
  /** Has served under a table: a target admitted from now on ramps up (slow start). */
  established = false;
  /** Every target is out: the pool routes to all of them (Envoy's panic threshold). */
  panic = false;

  constructor(
    readonly name: string,
    private readonly log: Logger | undefined,
  ) {}

  target(address: string, now: number): TargetHealth {
    let t = this.targets.get(address);
    if (t === undefined) {
      t = new TargetHealth(this.name, address, now, this.established);
      this.targets.set(address, t);
    }
    return t;
  }

  /** Called by the balancer when every target is out, and when one is back; logged on change only. */
  setPanic(on: boolean): void {
    if (on === this.panic) return;
    this.panic = on;
    if (on) this.log?.error({ pool: this.name }, "every target of the pool is out (ejected or unhealthy): routing to all of them (panic)");
    else this.log?.warn({ pool: this.name }, "a target of the pool is back: panic routing over");
  }

  ejected(t: TargetHealth, reason: string, forMs: number): void {
    this.log?.warn({ pool: this.name, address: t.address, reason, ejectForMs: forMs }, "target ejected after consecutive failures");
  }

  checked(t: TargetHealth, change: "down" | "up"): void {
    if (change === "down") this.log?.warn({ pool: this.name, address: t.address, err: t.lastError }, "target failed its health checks: out of rotation");
    else this.log?.info({ pool: this.name, address: t.address }, "target passed its health checks: back in rotation");
  }
}

export class HealthRegistry {
  private readonly pools = new Map<string, PoolHealth>();

  constructor(private readonly log?: Logger) {}

  pool(name: string): PoolHealth {
    let p = this.pools.get(name);
    if (p === undefined) {
      p = new PoolHealth(name, this.log);
      this.pools.set(name, p);
    }
    return p;
  }

  /** After a swap: only what the serving table names is kept; its drain and slow-start settings apply. */
  retain(pools: ReadonlyMap<string, PoolView>): void {
    const now = Date.now();
    for (const [name, ph] of this.pools) {
      const view = pools.get(name);
      if (view === undefined) {
        this.pools.delete(name);
        continue;
      }
      const drains = new Map<string, boolean>();
      for (const m of view.members) drains.set(m.key, (drains.get(m.key) ?? true) && m.drain);
      for (const [address, t] of ph.targets) {
        const drain = drains.get(address);
        if (drain === undefined) {
          ph.targets.delete(address);
          continue;
        }
        if (drain !== t.drain) t.since = now;
        t.drain = drain;
        t.slowStartMs = view.policy.slowStartMs;
      }
      ph.established = true;
    }
  }

  /** Per pool and target, what the heartbeat record carries. */
  report(now = Date.now()): PoolHealthReport[] {
    const out: PoolHealthReport[] = [];
    for (const ph of this.pools.values()) {
      const targets = [...ph.targets.values()].map((t) => ({ address: t.address, state: t.state(now), since: t.since, lastError: t.lastError }));
      out.push({ pool: ph.name, panic: ph.panic, targets });
    }
    return out;
  }

  /** Every target's state, flat: the provider for the agent's `switchyard_agent_upstream_health{pool,target}` metric. */
  targetStates(now = Date.now()): TargetStateRow[] {
    const rows: TargetStateRow[] = [];
    for (const ph of this.pools.values()) for (const t of ph.targets.values()) rows.push({ pool: ph.name, target: t.address, state: t.state(now) });
    return rows;
  }

  /** Pools routing to every target because all are out. */
  panics(): string[] {
    return [...this.pools.values()].filter((p) => p.panic).map((p) => p.name);
  }

  /** The state of one target, when the registry knows it. */
  get(pool: string, address: string): TargetHealth | undefined {
    return this.pools.get(pool)?.targets.get(address);
  }
}
