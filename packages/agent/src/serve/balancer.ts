import type { Pool } from "@switchyard/shared";
import { resolution, type ForwardTarget, type Resolution, type Target, type TargetChooser } from "./forward.js";
import type { PoolHealth, PoolView } from "./health/registry.js";
import type { PoolPolicy, TargetHealth } from "./health/target-health.js";

/**
 * One pool's balancer in a compiled table: smooth weighted round-robin (nginx's) over the targets
 * that may take a request now. A draining, ejected or unhealthy target weighs nothing; a
 * slow-starting one a growing share of its weight. When none may (every target out), the pool
 * routes to all of its non-draining targets rather than to none (Envoy's panic threshold) and says
 * so (PoolHealth.setPanic: the log, /status, the heartbeat).
 *
 * Per request: a few field reads per target (the clock only while a target is ejected or ramping
 * up); nothing is allocated. The balancer
 * lives in one table (its scores restart with each revision); the health it reads does not.
 */

interface Member {
  readonly key: string;
  readonly weight: number;
  readonly drain: boolean;
  readonly health: TargetHealth;
  readonly resolution: Resolution & { kind: "target" };
}

export class PoolBalancer implements PoolView, TargetChooser {
  readonly members: readonly Member[];
  readonly retryOn: ReadonlySet<number>;
  readonly retryTries: number;
  private readonly scores: Float64Array;
  /** Distinct addresses: what maxEjectedPercent is a share of. */
  private readonly distinct: number;

  constructor(
    readonly name: string,
    pool: Pool,
    readonly policy: PoolPolicy,
    private readonly health: PoolHealth,
    toTarget: (address: string) => Target,
  ) {
    const now = Date.now();
    this.retryOn = policy.retryOn;
    this.retryTries = policy.retryTries;
    this.members = pool.targets.map((t) => {
      const target = toTarget(t.address);
      const h = health.target(target.key, now);
      const r = resolution(name, target, pool.keepalive, name, h, this) as Member["resolution"];
      return Object.freeze({ key: target.key, weight: t.weight, drain: t.drain === true, health: h, resolution: r });
    });
    this.scores = new Float64Array(this.members.length);
    this.distinct = new Set(this.members.map((m) => m.key)).size;
  }

  pick(): Resolution {
    const m = this.members;
    const n = m.length;
    if (n === 1) {
      const only = m[0] as Member;
      // Nowhere else to go: an out target still gets the request (panic), and says so.
      const h = only.health;
      if (h.ejectedUntil !== 0 || h.unhealthy || this.health.panic) this.health.setPanic(h.out(Date.now()));
      return only.resolution;
    }
    // The clock is read only when some target's state depends on it (ejected, or ramping up).
    let now = 0;
    const scores = this.scores;
    let total = 0;
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      const mi = m[i] as Member;
      const h = mi.health;
      if (mi.drain || h.unhealthy) continue;
      let w = mi.weight;
      if (h.ejectedUntil !== 0 || h.rampFrom !== 0) {
        if (now === 0) now = Date.now();
        if (h.out(now)) continue;
        w = h.weight(w, now);
      }
      total += w;
      const s = (scores[i] as number) + w;
      scores[i] = s;
      if (s > bestScore) {
        best = i;
        bestScore = s;
      }
    }
    if (best < 0) return this.panicPick();
    if (this.health.panic) this.health.setPanic(false);
    scores[best] = bestScore - total;
    return (m[best] as Member).resolution;
  }

  /** Every target out: all non-draining ones (all, if every one drains) at their configured weights. */
  private panicPick(): Resolution {
    this.health.setPanic(true);
    const m = this.members;
    const scores = this.scores;
    const allDrain = m.every((x) => x.drain);
    let total = 0;
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < m.length; i++) {
      const mi = m[i] as Member;
      if (mi.drain && !allDrain) continue;
      total += mi.weight;
      const s = (scores[i] as number) + mi.weight;
      scores[i] = s;
      if (s > bestScore) {
        best = i;
        bestScore = s;
      }
    }
    scores[best] = bestScore - total;
    return (m[best] as Member).resolution;
  }

  /**
   * The target the rotation favours most among those not tried and in rotation, without advancing
   * the rotation (a retry must not shift the next requests onto the target that just failed); else
   * any target not tried and not draining; else none.
   */
  next(tried: readonly string[]): ForwardTarget | undefined {
    const m = this.members;
    const now = Date.now();
    let best: Member | undefined;
    let bestScore = -Infinity;
    for (let i = 0; i < m.length; i++) {
      const mi = m[i] as Member;
      if (mi.drain || tried.includes(mi.key) || mi.health.out(now)) continue;
      const s = (this.scores[i] as number) + mi.health.weight(mi.weight, now);
      if (s > bestScore) {
        best = mi;
        bestScore = s;
      }
    }
    if (best !== undefined) return best.resolution.forward;
    for (const mi of m) if (!mi.drain && !tried.includes(mi.key)) return mi.resolution.forward;
    return undefined;
  }

  failed(target: ForwardTarget, reason: string): void {
    const h = target.health;
    if (h === undefined) return;
    h.lastError = reason;
    const p = this.policy;
    // Already out: the failures of panic traffic do not extend an ejection.
    if (p.consecutiveFailures === 0 || h.ejectedUntil !== 0 || ++h.failures < p.consecutiveFailures) return;
    const now = Date.now();
    let ejected = 0;
    for (const t of this.health.targets.values()) if (t.ejectedUntil > now) ejected++;
    const limit = p.maxEjectedPercent === 0 ? 0 : Math.max(1, Math.floor((this.distinct * p.maxEjectedPercent) / 100));
    if (ejected >= limit) return;
    h.eject(now, p.ejectForMs, reason);
    this.health.ejected(h, reason, p.ejectForMs);
  }
}

/**
 * Smooth weighted round-robin, as nginx does it: every pick adds each target's weight to its
 * running score, takes the highest score (first one on a tie) and subtracts the total weight from
 * it. Over any window of `total` picks each target is chosen exactly `weight` times, and heavy
 * targets are interleaved rather than bunched (5:1:1 gives a a b a c a a).
 */
export class SmoothWeightedRoundRobin<T> {
  private readonly items: readonly T[];
  private readonly weights: readonly number[];
  private readonly scores: number[];
  private readonly total: number;

  constructor(entries: readonly { item: T; weight: number }[]) {
    if (entries.length === 0) throw new Error("a balancer needs at least one target");
    this.items = entries.map((e) => e.item);
    this.weights = entries.map((e) => e.weight);
    this.scores = entries.map(() => 0);
    this.total = this.weights.reduce((a, b) => a + b, 0);
  }

  pick(): T {
    if (this.items.length === 1) return this.items[0] as T;
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < this.items.length; i++) {
      const score = (this.scores[i] as number) + (this.weights[i] as number);
      this.scores[i] = score;
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    this.scores[best] = bestScore - this.total;
    return this.items[best] as T;
  }
}
