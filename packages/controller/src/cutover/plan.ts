import { randomBytes } from "node:crypto";
import { describeUpstream, dict, looksLikeAddress, parseDuration, upstreamPools, type Route, type Snapshot, type Upstream } from "@switchyard/shared";
import { ApiError } from "../http/errors.js";
import type { CutoverRecord, CutoverRequest } from "./spec.js";

const canonical = (u: unknown): string =>
  u !== null && typeof u === "object" && "split" in u
    ? JSON.stringify(Object.entries((u as { split: Record<string, number> }).split).sort(([a], [b]) => a.localeCompare(b)))
    : JSON.stringify(u ?? null);
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);
const isPool = (u: Upstream | null | undefined): u is string => typeof u === "string" && !looksLikeAddress(u);

/**
 * Checks a cutover request against the current state and turns it into a record. Everything that
 * can be refused is refused here, before anything is written or queued.
 */
export function planCutover(body: CutoverRequest, snap: Snapshot, actor: string, nowMs: number): CutoverRecord {
  const hosts = body.hosts ?? [body.host as string];
  for (const p of upstreamPools(body.to)) {
    if (!Object.hasOwn(snap.state.pools, p)) throw new ApiError(400, "invalid", `pool '${p}' does not exist`, "to");
  }
  // Keyed by host: null-prototype objects (see shared dict.ts).
  const original = dict<Route | null>();
  const from = dict<Upstream | null>();
  for (const h of hosts) {
    const route = snap.state.routes[h] ?? null;
    original[h] = route;
    from[h] = route?.upstream ?? null;
    if (body.from !== undefined && !same(route?.upstream, body.from)) {
      throw new ApiError(409, "conflict", `${h} is on ${route?.rules ? "path rules" : describeUpstream(route?.upstream)}, not ${describeUpstream(body.from)}`, "from");
    }
    if (route?.upstream !== undefined && same(route.upstream, body.to)) throw new ApiError(409, "conflict", `${h} is already on ${describeUpstream(body.to)}`, "to");
  }
  const canary = body.strategy === "instant" ? undefined : body.strategy.canary;
  if (canary) {
    if (!isPool(body.to)) throw new ApiError(400, "invalid", "a canary needs a pool as 'to': a split is made of pools", "to");
    for (const h of hosts) {
      if (!isPool(from[h])) throw new ApiError(409, "conflict", `a canary needs ${h} on a single pool now, not ${original[h]?.rules ? "path rules" : describeUpstream(from[h])}`, "host");
    }
  }
  let atMs = nowMs;
  if (body.at !== undefined) {
    atMs = Date.parse(body.at);
    if (!(atMs > nowMs)) throw new ApiError(400, "invalid", "at is in the past", "at");
  }
  // Preflight probes what the pool's own health check probes, unless the request names a path or timeout.
  const check = isPool(body.to) ? snap.state.pools[body.to]?.healthCheck : undefined;
  const asked = body.preflight === true || body.preflight === false ? {} : body.preflight;
  const preflight = body.preflight === false ? null : {
    path: asked.path ?? check?.path ?? "/",
    timeoutMs: asked.timeout ?? (check ? parseDuration(check.timeout) : undefined) ?? 2000,
    ...(check && asked.path === undefined ? { expectStatus: check.expectStatus } : {}),
  };
  const created = new Date(nowMs).toISOString();
  return {
    id: `co-${randomBytes(6).toString("hex")}`,
    hosts,
    to: body.to,
    from,
    original,
    strategy: canary ? { canary: { steps: canary.steps, interval: `${canary.interval}ms` } } : "instant",
    weights: canary ? canary.steps : [100],
    intervalMs: canary?.interval ?? 0,
    preflight,
    ackTimeoutMs: body.ackTimeout,
    bakeMs: body.bake,
    rollback: {
      maxErrorRate: body.rollback.maxErrorRate,
      minRequests: body.rollback.minRequests,
      // A canary step holds for evidence at most this long (default: 10 intervals).
      maxWaitMs: body.rollback.maxWait ?? 10 * (canary?.interval ?? 0),
    },
    at: body.at === undefined ? null : new Date(atMs).toISOString(),
    state: body.at === undefined ? "preflight" : "scheduled",
    step: null,
    reason: null,
    createdAt: created,
    updatedAt: created,
    createdBy: actor,
    steps: [],
    restore: null,
    reverting: null,
    readings: [],
    preflightResult: null,
    lastRevision: snap.revision,
    window: null,
    worker: null,
  };
}
