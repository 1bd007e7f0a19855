import type { Address } from "@switchyard/shared";
import type { TargetHealth } from "./health/target-health.js";

/**
 * What the serve flow hands from the route table to the upstream exchange: the types only, so the
 * table, the pool balancer and the exchange share them without importing one another.
 */

/**
 * A parsed upstream address plus its canonical spelling. `key` is computed once, when the table is
 * compiled, because per-target state (connection pools, health) is indexed by it.
 */
export type Target = Address & { readonly key: string };

/** Where a request goes, as the exchange needs it: one frozen object per target and pool, made at compile time. */
export interface ForwardTarget {
  readonly address: Target;
  /**
   * The pool's `keepalive` (idle connections kept; 0 closes each connection after use), or
   * undefined when it sets none: the idle cap then follows the load (upstream-policy.ts idleCap).
   */
  readonly keepalive: number | undefined;
  /** Pool name or address: what results are counted and logged under. */
  readonly upstreamLabel: string;
  /** The pool's name: all a client is ever told about an upstream. Undefined for a direct address. */
  readonly pool: string | undefined;
  /** The target's runtime health in its pool (undefined for a direct address). */
  readonly health: TargetHealth | undefined;
  /** Its pool's balancer: another target after a failure (undefined for a direct address). */
  readonly chooser: TargetChooser | undefined;
}

/** What the exchange asks of a pool when a target fails it. */
export interface TargetChooser {
  /** Another target, none of whose keys is in `tried`; undefined when none is left. */
  next(tried: readonly string[]): ForwardTarget | undefined;
  /** The target failed an exchange (passive ejection counts it). */
  failed(target: ForwardTarget, reason: string): void;
  /** Upstream statuses this pool sends to another target. */
  readonly retryOn: ReadonlySet<number>;
  /** Attempts in all for a retried status. */
  readonly retryTries: number;
}

export type Resolution =
  | {
      readonly kind: "target";
      /** Pool name or address: the label results are counted under. */
      readonly upstream: string;
      readonly target: Target;
      /** The pool's keepalive when it sets one. */
      readonly keepalive?: number;
      /** What the exchange is handed, built with the table so a request allocates nothing to route. */
      readonly forward: ForwardTarget;
    }
  | { readonly kind: "no_route" };

/** One frozen answer per target, made at compile time; requests share them. `pool` is undefined for a direct address. */
export function resolution(upstream: string, target: Target, keepalive: number | undefined, pool: string | undefined, health?: TargetHealth, chooser?: TargetChooser): Resolution {
  const forward: ForwardTarget = Object.freeze({ address: target, keepalive, upstreamLabel: upstream, pool, health, chooser });
  return Object.freeze(keepalive === undefined ? { kind: "target", upstream, target, forward } : { kind: "target", upstream, target, keepalive, forward });
}
