import { z } from "zod";
import { dictOf } from "./dict.js";
import { looksLikeAddress, parseAddress } from "./address.js";
import { hostProblem, normalizeHost } from "./host.js";

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
});

export const Pool = z.strictObject({
  targets: z.array(Target).min(1).max(MAX_TARGETS),
  /** Idle keep-alive connections the agent keeps per target; the agent picks its default when unset. */
  keepalive: z.int().min(0).max(1024).optional(),
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
export type Rule = z.infer<typeof Rule>;
export type Route = z.infer<typeof Route>;
export type State = z.infer<typeof State>;
