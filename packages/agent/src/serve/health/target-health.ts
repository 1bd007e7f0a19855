import { PASSIVE_DEFAULTS, parseDuration, type Pool } from "@switchyard/shared";

/**
 * One target's runtime health in one pool, keyed by pool name and target address (never by its
 * position in the pool), so it outlives table swaps: a revision that reorders, reweights or adds
 * targets keeps every known target's failures, ejection and ramp. Only the serve flow (results of
 * exchanges), the active checker and the registry's retain() after a swap write it; compiling a
 * table never does.
 *
 * Times are Date.now() milliseconds. Transitions that only time causes (an ejection running out, a
 * ramp finishing) are taken lazily, when the target is next weighed or reported.
 */

export type HealthState = "healthy" | "unhealthy" | "ejected" | "draining" | "slow_start";

/** A pool's health settings, durations parsed: made once per compiled pool. */
export interface PoolPolicy {
  /** 0: passive ejection off. */
  readonly consecutiveFailures: number;
  readonly ejectForMs: number;
  readonly maxEjectedPercent: number;
  /** 0: a (re)admitted target takes its full weight at once. */
  readonly slowStartMs: number;
  /** Upstream statuses sent to another target (empty: none). */
  readonly retryOn: ReadonlySet<number>;
  /** Attempts in all for a retried status, the first included. */
  readonly retryTries: number;
  readonly check: ActiveCheckPolicy | undefined;
}

export interface ActiveCheckPolicy {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  /** Inclusive [low, high] status ranges that count as healthy. */
  readonly expect: readonly (readonly [number, number])[];
  /** The settings as written: a changed check restarts its probes. */
  readonly signature: string;
}

const ms = (text: string): number => parseDuration(text) ?? 0;

/** A slow-starting target begins at this share of its weight (nginx plus and Envoy start above zero too). */
export const SLOW_START_FLOOR = 0.1;

export function poolPolicy(pool: Pool): PoolPolicy {
  const passive = { ...PASSIVE_DEFAULTS, ...pool.passive };
  const hc = pool.healthCheck;
  return Object.freeze({
    consecutiveFailures: passive.consecutiveFailures,
    ejectForMs: ms(passive.ejectFor),
    maxEjectedPercent: passive.maxEjectedPercent,
    slowStartMs: pool.slowStart === undefined ? 0 : ms(pool.slowStart),
    retryOn: new Set((pool.retry?.on ?? []).map(Number)),
    retryTries: pool.retry?.tries ?? 1,
    check: hc === undefined ? undefined : Object.freeze({
      path: hc.path,
      intervalMs: ms(hc.interval),
      timeoutMs: ms(hc.timeout),
      healthyThreshold: hc.healthyThreshold,
      unhealthyThreshold: hc.unhealthyThreshold,
      expect: hc.expectStatus.split(",").map((part) => {
        const [lo, hi] = part.split("-").map(Number) as [number, number | undefined];
        return [lo, hi ?? lo] as const;
      }),
      signature: JSON.stringify(hc),
    }),
  });
}

export class TargetHealth {
  /** Consecutive failed exchanges (passive); any response resets it. */
  failures = 0;
  /** Ejected (passive) until this time; 0 when not ejected. */
  ejectedUntil = 0;
  /** Out by the active checker's verdict until it passes healthyThreshold probes again. */
  unhealthy = false;
  okStreak = 0;
  failStreak = 0;
  /** Ramping its weight since this time (slow start); 0 when at full weight. */
  rampFrom = 0;
  /** The pool's current setting for this target (set after each swap by the registry). */
  drain = false;
  slowStartMs = 0;
  /** When the reported state last changed. */
  since: number;
  lastError: string | null = null;

  constructor(
    readonly pool: string,
    readonly address: string,
    now: number,
    /** Admitted to a pool already serving: it ramps up (slow start). */
    ramp: boolean,
  ) {
    this.since = now;
    if (ramp) this.rampFrom = now;
  }

  /** Out of rotation now: ejected or unhealthy (drain is the pool's setting, weighed apart). */
  out(now: number): boolean {
    if (this.unhealthy) return true;
    if (this.ejectedUntil === 0) return false;
    if (now < this.ejectedUntil) return true;
    // Back from ejection, through slow start.
    this.since = this.rampFrom = this.ejectedUntil;
    this.ejectedUntil = 0;
    return false;
  }

  /** Its share of `weight` now: a fraction while slow-starting, else all of it. Assumes !out(now). */
  weight(weight: number, now: number): number {
    if (this.rampFrom === 0) return weight;
    const t = now - this.rampFrom;
    if (t >= this.slowStartMs) {
      if (this.slowStartMs > 0) this.since = this.rampFrom + this.slowStartMs;
      this.rampFrom = 0;
      return weight;
    }
    return weight * Math.max(SLOW_START_FLOOR, t / this.slowStartMs);
  }

  state(now: number): HealthState {
    if (this.drain) return "draining";
    if (this.out(now)) return this.unhealthy ? "unhealthy" : "ejected";
    if (this.rampFrom !== 0 && (this.weight(1, now), this.rampFrom !== 0)) return "slow_start";
    return "healthy";
  }

  eject(now: number, forMs: number, reason: string): void {
    this.ejectedUntil = now + forMs;
    this.failures = 0;
    this.since = now;
    this.lastError = reason;
  }

  /** An active probe's verdict; returns the change it made, if any. */
  probed(ok: boolean, error: string | null, check: ActiveCheckPolicy, now: number): "down" | "up" | undefined {
    if (ok) {
      this.failStreak = 0;
      this.okStreak++;
      if (this.unhealthy && this.okStreak >= check.healthyThreshold) {
        this.unhealthy = false;
        this.since = this.rampFrom = now;
        return "up";
      }
      return undefined;
    }
    this.okStreak = 0;
    this.failStreak++;
    this.lastError = error;
    if (!this.unhealthy && this.failStreak >= check.unhealthyThreshold) {
      this.unhealthy = true;
      this.rampFrom = 0;
      this.since = now;
      return "down";
    }
    return undefined;
  }
}
