import { z } from "zod";
import { dictOf } from "./model/dict.js";
import { Host, Pool, PoolName, Route, Upstream } from "./model/schema.js";

/**
 * Sync protocol, version 1. One message per committed revision is PUBLISHed on `keys.changes`
 * and the same ops are kept in the change log stream under id `<rev>-0`.
 *
 *   { "v": 1, "rev": 42, "at": 1732460000000, "actor": "ops", "ops": [ Op, ... ] }
 *
 * Messages are hints: the revisioned state in Redis is the truth. A reader that has applied
 * revision A classifies an incoming revision R as next (R = A + 1), stale (R <= A: duplicate
 * or old, ignore) or gap (R > A + 1: repair from the log, or from a snapshot when the log no
 * longer reaches back).
 */
export const PROTOCOL_VERSION = 1;

export const Op = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("pool.put"), name: PoolName, pool: Pool }),
  z.strictObject({ op: z.literal("pool.del"), name: PoolName }),
  z.strictObject({ op: z.literal("route.put"), host: Host, route: Route }),
  z.strictObject({ op: z.literal("route.del"), host: Host }),
  z.strictObject({ op: z.literal("default.put"), upstream: Upstream.nullable() }),
]);
export type Op = z.infer<typeof Op>;

export const ChangeMessage = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  rev: z.int().positive(),
  at: z.int().nonnegative(),
  actor: z.string().max(128),
  ops: z.array(Op).min(1),
});
export type ChangeMessage = z.infer<typeof ChangeMessage>;

export type Arrival = "next" | "stale" | "gap";

export function classify(applied: number, incoming: number): Arrival {
  if (incoming <= applied) return "stale";
  return incoming === applied + 1 ? "next" : "gap";
}

/** Agent ids travel in keys and channels, so they obey the same no-glob, no-space rule as names. */
export const AgentId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, {
  message: "agent id must be 1-128 of A-Z a-z 0-9 . _ : - and start with a letter or digit",
});

/** Published on `keys.acks` after an agent applied `revision` (and so every earlier one). */
export const AckMessage = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  agent: AgentId,
  revision: z.int().nonnegative(),
  appliedAt: z.int().nonnegative(),
});
export type AckMessage = z.infer<typeof AckMessage>;

/** A target's state on one agent, as `GET /v1/pools/:name/health` reports it. */
export const TARGET_STATES = ["healthy", "unhealthy", "ejected", "draining", "slow_start"] as const;

/** One pool's targets as one agent sees them, in its heartbeat record (`since`: ms since the epoch). */
export const PoolHealthReport = z.object({
  pool: z.string(),
  /** Every target is out and the agent routes to all of them (panic). */
  panic: z.boolean(),
  targets: z.array(z.object({
    address: z.string(),
    state: z.enum(TARGET_STATES),
    since: z.int().nonnegative(),
    lastError: z.string().max(500).nullable(),
  })),
});
export type PoolHealthReport = z.infer<typeof PoolHealthReport>;

/** Stored at `keys.agent(id)` with a TTL and refreshed every <= 2 s: proof of life and of what is applied. */
export const AgentRecord = z.object({
  id: AgentId,
  revision: z.int().nonnegative(),
  appliedAt: z.int().nonnegative().nullable(),
  startedAt: z.int().nonnegative(),
  version: z.string(),
  address: z.string(),
  /** Per-worker revisions when the agent runs several processes; the ack counts the minimum. */
  workers: z.array(z.object({ pid: z.int(), revision: z.int().nonnegative() })).optional(),
  /**
   * A nack: the newest revision this agent refused (it did not validate or compile) and why. Absent
   * once the agent applies that revision or a later one. `wait=applied` can report it instead of
   * waiting for a timeout.
   */
  rejected: z.object({ revision: z.int().nonnegative(), reason: z.string().max(500) }).optional(),
  /** Per pool and target, the health this agent sees (absent from agents that predate it). */
  health: z.array(PoolHealthReport).optional(),
});
export type AgentRecord = z.infer<typeof AgentRecord>;

/** Traffic counter fields in `keys.stats`: cumulative since the fleet began, never reset. */
export const statsField = {
  requests: (upstream: string) => `req:${upstream}`,
  errors: (upstream: string) => `err:${upstream}`,
  /** Per route host and upstream (what a canary switches): a host never holds a space, so the first one splits. */
  routeRequests: (host: string, upstream: string) => `rreq:${host} ${upstream}`,
  routeErrors: (host: string, upstream: string) => `rerr:${host} ${upstream}`,
};

/**
 * Preflight: the controller PUBLISHes a ProbeRequest on `keys.probes`; every agent GETs `path` on
 * each target (healthy = 2xx/3xx within `timeoutMs`), HSETs its ProbeReport into
 * `keys.probeResults(id)` (field = agent id, the hash expires), then PUBLISHes the probe id on
 * `keys.probeDone`. A target is healthy only when every live agent reached it.
 */
export const ProbeRequest = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  targets: z.array(z.string().max(200)).min(1).max(1024),
  path: z.string().startsWith("/").max(1024),
  timeoutMs: z.int().min(1).max(60_000),
});
export type ProbeRequest = z.infer<typeof ProbeRequest>;

export const ProbeResult = z.object({
  ok: z.boolean(),
  status: z.int().optional(),
  error: z.string().max(500).optional(),
  ms: z.number().nonnegative(),
});
export const ProbeReport = z.object({
  agent: AgentId,
  at: z.int().nonnegative(),
  /** Keyed by target address: a null-prototype object (see dict.ts). */
  results: dictOf(z.string(), ProbeResult),
});
export type ProbeReport = z.infer<typeof ProbeReport>;
