import { randomBytes } from "node:crypto";
import { z } from "zod";
import { dictOf } from "./model/dict.js";
import { Host, Pool, PoolName, Route, Upstream } from "./model/schema.js";

/**
 * Sync protocol, version 2. One message per committed revision is PUBLISHed on `keys.changes`
 * and the same ops are kept in the change log stream under id `<rev>-0` (with an `epoch` field).
 *
 *   { "v": 2, "epoch": "0193a1b2c3d4-9f8e7d6c", "rev": 42, "at": 1732460000000, "actor": "ops", "ops": [ Op, ... ] }
 *
 * Version 2 added the epoch: the store's lineage id (keys.epoch). A revision number names a state
 * only within one lineage; Redis restarted empty or flushed starts counting again, so a reader
 * that sees another epoch loads a full snapshot and never applies the new lineage's changes on
 * top of the old lineage's table.
 *
 * Messages are hints: the revisioned state in Redis is the truth. A reader that has applied
 * revision A classifies an incoming revision R as next (R = A + 1), stale (R <= A: duplicate
 * or old, ignore) or gap (R > A + 1: repair from the log, or from a snapshot when the log no
 * longer reaches back).
 */
export const PROTOCOL_VERSION = 2;

/** A lineage id: 12 hex digits of creation time (ms, so ids sort by age) and 8 random hex digits. */
export const Epoch = z.string().regex(/^[0-9a-f]{12}-[0-9a-f]{8}$/, { message: "epoch must be <12 hex>-<8 hex>" });
export type Epoch = z.infer<typeof Epoch>;

/** A new lineage id; later ids sort after earlier ones (offers from the newest lineage win a restore). */
export function newEpoch(now = Date.now()): string {
  return `${now.toString(16).padStart(12, "0").slice(-12)}-${randomBytes(4).toString("hex")}`;
}

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
  epoch: Epoch,
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
  /** The lineage the revision belongs to: an ack from another lineage never counts as applied. */
  epoch: Epoch.nullable(),
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
  /** The lineage of the applied table (null: none yet, or only an uninitialised store's empty table). */
  epoch: Epoch.nullable(),
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

/**
 * What an agent offers while the store is uninitialised (keys.offers, field = agent id): the table
 * it serves, so the controller can write the newest copy back (shared store/lineage.ts).
 */
export const StoreOffer = z.object({
  agent: AgentId,
  epoch: Epoch,
  revision: z.int().nonnegative(),
  at: z.int().nonnegative(),
  /** The whole state (validated again with the State schema before it is restored). */
  state: z.unknown(),
});
export type StoreOffer = z.infer<typeof StoreOffer>;
