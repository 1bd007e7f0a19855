import { z } from "zod";
import { dictOf } from "./dict.js";
import { looksLikeAddress, parseAddress } from "./address.js";
import { hostProblem, normalizeHost } from "./host.js";
import { parseDuration } from "../duration.js";

/**
 * The one validator for everything Switchyard stores. The controller runs it before any write,
 * the agent runs it on every snapshot and change before it swaps its table.
 */

export const POOL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const MAX_TARGETS = 256;
export const MAX_RULES = 256;
export const MAX_SPLIT_POOLS = 32;

export const PoolName = z.string().refine((s) => POOL_NAME.test(s), {
  message: "pool name must match [a-z0-9][a-z0-9._-]{0,62}",
});

export const AddressString = z.string().superRefine((s, ctx) => {
  const r = parseAddress(s);
  if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
});

/** A pool name or a direct address; an address always contains ':' and a pool name never does. */
export const UpstreamRef = z.string().superRefine((s, ctx) => {
  if (looksLikeAddress(s)) {
    const r = parseAddress(s);
    if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
  } else if (!POOL_NAME.test(s)) {
    ctx.addIssue({
      code: "custom",
      message: `'${s}' is neither a pool name ([a-z0-9][a-z0-9._-]{0,62}) nor an address (host:port, [ipv6]:port, unix:/path.sock)`,
    });
  }
});

export const Split = z.strictObject({
  split: dictOf(PoolName, z.int().min(0).max(100))
    .superRefine((weights, ctx) => {
      const entries = Object.entries(weights);
      if (entries.length === 0) ctx.addIssue({ code: "custom", message: "split names no pool" });
      if (entries.length > MAX_SPLIT_POOLS) ctx.addIssue({ code: "custom", message: `split names more than ${MAX_SPLIT_POOLS} pools` });
      const sum = entries.reduce((acc, [, w]) => acc + w, 0);
      if (sum !== 100) ctx.addIssue({ code: "custom", message: `split weights must sum to 100, not ${sum}` });
    }),
});

export const Upstream = z.union([UpstreamRef, Split], {
  error: "upstream must be a pool name, an address, or { split: { pool: weight } }",
});

export const Target = z.strictObject({
  address: AddressString,
  weight: z.int().min(1).max(100).default(1),
  /** true: the target gets no new request; requests and WebSockets under way finish. Absent = false. */
  drain: z.boolean().optional(),
});

/** A duration in the one syntax (shared/duration.ts), kept as written; `min`/`max` in ms. */
export const DurationText = (min: number, max: number) =>
  z.string().max(32).superRefine((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) ctx.addIssue({ code: "custom", message: `'${s}' is not a duration (such as 500ms, 2s, 1m30s)` });
    else if (ms < min || ms > max) ctx.addIssue({ code: "custom", message: `must be between ${min} ms and ${max} ms` });
  });

/** `200-399`, `200`, or a comma-separated list of either. */
const STATUS_RANGES = /^[1-5]\d\d(-[1-5]\d\d)?(,[1-5]\d\d(-[1-5]\d\d)?)*$/;

/** Active checks: each agent GETs `path` on every target of the pool from its own edge. */
export const HealthCheck = z.strictObject({
  path: z.string().min(1).max(1024).refine((p) => p.startsWith("/") && !/[\s\0#]/.test(p), { message: "path must start with '/' and hold no spaces, CR, LF, NUL or '#'" }),
  /** Time between two probes of one target (each agent adds up to 10% jitter). Default 2s. */
  interval: DurationText(100, 3_600_000).default("2s"),
  /** A probe with no complete response head by then fails. Default 1s. */
  timeout: DurationText(10, 60_000).default("1s"),
  /** Consecutive successes that readmit an unhealthy target. Default 2. */
  healthyThreshold: z.int().min(1).max(100).default(2),
  /** Consecutive failures that take a target out. Default 2. */
  unhealthyThreshold: z.int().min(1).max(100).default(2),
  /** Statuses that count as healthy. Default "200-399". */
  expectStatus: z.string().max(100).regex(STATUS_RANGES, { message: "expectStatus is a status or range list such as 200-399 or 200,204" }).default("200-399"),
});

/**
 * Passive ejection from live traffic. Absent means on, with the defaults below (the agent applies
 * them: a stored pool that never set `passive` still ejects).
 */
export const Passive = z.strictObject({
  /** Consecutive failed exchanges (connect refused or timed out, reset or timeout before a response) that eject a target; 0 turns passive ejection off. Default 3. */
  consecutiveFailures: z.int().min(0).max(1000).default(3),
  /** How long an ejected target stays out before it comes back (through slow start). Default 10s. */
  ejectFor: DurationText(100, 3_600_000).default("10s"),
  /** Most targets of the pool ejected at once, in percent (at least one target may always be). Default 50. */
  maxEjectedPercent: z.int().min(0).max(100).default(50),
});
export const PASSIVE_DEFAULTS = Object.freeze({ consecutiveFailures: 3, ejectFor: "10s", maxEjectedPercent: 50 });

/** Upstream answers that send the request to another target. Absent: none is retried (failures before a response always may be). */
export const Retry = z.strictObject({
  on: z.array(z.enum(["502", "503", "504"])).min(1).max(3),
  /** Attempts in all, the first included, each on a different target. Default 2. */
  tries: z.int().min(1).max(10).default(2),
});

export const Pool = z.strictObject({
  targets: z.array(Target).min(1).max(MAX_TARGETS),
  /** Idle keep-alive connections the agent keeps per target; the agent picks its default when unset. */
  keepalive: z.int().min(0).max(1024).optional(),
  healthCheck: HealthCheck.optional(),
  passive: Passive.optional(),
  /** A target (re)admitted to the pool ramps its weight from 10% to full over this time. Absent: at once. */
  slowStart: DurationText(0, 3_600_000).optional(),
  retry: Retry.optional(),
});

const RulePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => p.startsWith("/"), { message: "path must start with '/'" })
  .refine((p) => !/[\s\0?#]/.test(p), { message: "path must not contain spaces, CR, LF, NUL, '?' or '#'" });

export const Rule = z.strictObject({ path: RulePath, upstream: Upstream });

/** Exactly one of `upstream` (every path) or `rules` (longest prefix wins). */
export const Route = z
  .strictObject({
    upstream: Upstream.optional(),
    rules: z.array(Rule).min(1).max(MAX_RULES).optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.upstream === undefined) === (r.rules === undefined)) {
      ctx.addIssue({ code: "custom", message: "a route has exactly one of 'upstream' or 'rules'" });
    }
    const seen = new Set<string>();
    r.rules?.forEach((rule, i) => {
      if (seen.has(rule.path)) ctx.addIssue({ code: "custom", path: ["rules", i, "path"], message: `duplicate path '${rule.path}'` });
      seen.add(rule.path);
    });
  });

export const Host = z.string().superRefine((s, ctx) => {
  const problem = hostProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
}).transform(normalizeHost);

export const DefaultBody = z.strictObject({ upstream: Upstream.nullable() });

/** Pools and routes are keyed by user data, so they are null-prototype objects (see dict.ts). */
export const State = z.strictObject({
  defaultUpstream: Upstream.nullable(),
  pools: dictOf(PoolName, Pool),
  routes: dictOf(Host, Route),
});

export type Upstream = z.infer<typeof Upstream>;
export type Split = z.infer<typeof Split>;
export type Target = z.infer<typeof Target>;
export type Pool = z.infer<typeof Pool>;
export type HealthCheck = z.infer<typeof HealthCheck>;
export type Passive = z.infer<typeof Passive>;
export type Retry = z.infer<typeof Retry>;
export type Rule = z.infer<typeof Rule>;
export type Route = z.infer<typeof Route>;
export type State = z.infer<typeof State>;
