import { createHash } from "node:crypto";
import { copyDict } from "./model/dict.js";
import { routePools, upstreamPools } from "./model/refs.js";
import type { State } from "./model/schema.js";
import type { Op } from "./protocol.js";
import { WriteRefused } from "./store/errors.js";

/**
 * Comparing states, and the ops that turn one into another: shared by dry-runs, `PUT /v1/state`
 * and rollback, so all three describe a change the same way.
 */

/** One entity that differs: `path` is a JSON Pointer (`/defaultUpstream`, `/pools/<name>`, `/routes/<host>`); null = absent. */
export interface DiffEntry {
  path: string;
  before: unknown;
  after: unknown;
}

const sortKeys = (_key: string, v: unknown) => {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  const out = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k];
  return out;
};

/** JSON with object keys sorted at every level (array order kept): a split written in another key order is the same split. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v ?? null, sortKeys);
}

/** sha256 of a value's canonical JSON: agents report their table's digest, tests compare it with GET /v1/state's. */
export const digestOf = (v: unknown): string => createHash("sha256").update(canonicalJson(v)).digest("hex");

export const sameValue = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

/** A JSON Pointer into a state: `statePath("routes", host)` -> `/routes/<host>`. */
export const statePath = (...parts: string[]) => parts.map((p) => "/" + p.replace(/~/g, "~0").replace(/\//g, "~1")).join("");

/** Every pool, route and the default upstream that differ between `a` and `b`: default first, then pools and routes by name. */
export function diffStates(a: State, b: State): DiffEntry[] {
  const out: DiffEntry[] = [];
  if (!sameValue(a.defaultUpstream, b.defaultUpstream)) out.push({ path: statePath("defaultUpstream"), before: a.defaultUpstream, after: b.defaultUpstream });
  for (const kind of ["pools", "routes"] as const) {
    const from = a[kind] as Record<string, unknown>;
    const to = b[kind] as Record<string, unknown>;
    const names = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    for (const name of names) {
      const before = Object.hasOwn(from, name) ? from[name] : null;
      const after = Object.hasOwn(to, name) ? to[name] : null;
      if (!sameValue(before, after)) out.push({ path: statePath(kind, name), before, after });
    }
  }
  return out;
}

/**
 * The ops that make `from` equal to `to`, ordered so every reference holds at every step: pools
 * put first, then routes, the default, route deletes and pool deletes last. `to` must itself be
 * a valid state (every reference resolves); then the store accepts the ops as one revision.
 * Empty when the states are the same.
 */
export function opsToReach(from: State, to: State): Op[] {
  const puts: Op[] = [];
  const routes: Op[] = [];
  const defaults: Op[] = [];
  const routeDels: Op[] = [];
  const poolDels: Op[] = [];
  for (const [name, pool] of Object.entries(to.pools)) {
    if (!Object.hasOwn(from.pools, name) || !sameValue(from.pools[name], pool)) puts.push({ op: "pool.put", name, pool });
  }
  for (const [host, route] of Object.entries(to.routes)) {
    if (!Object.hasOwn(from.routes, host) || !sameValue(from.routes[host], route)) routes.push({ op: "route.put", host, route });
  }
  if (!sameValue(from.defaultUpstream, to.defaultUpstream)) defaults.push({ op: "default.put", upstream: to.defaultUpstream });
  for (const host of Object.keys(from.routes)) if (!Object.hasOwn(to.routes, host)) routeDels.push({ op: "route.del", host });
  for (const name of Object.keys(from.pools)) if (!Object.hasOwn(to.pools, name)) poolDels.push({ op: "pool.del", name });
  return [...puts, ...routes, ...defaults, ...routeDels, ...poolDels];
}

/** Who names `pool` in `s`, as write.lua's refusal lists them: hosts, and "@default". */
function referrers(s: State, pool: string): string[] {
  const out: string[] = [];
  if (s.defaultUpstream !== null && upstreamPools(s.defaultUpstream).includes(pool)) out.push("@default");
  for (const [host, route] of Object.entries(s.routes)) {
    if (out.length >= 10) break;
    if (routePools(route).includes(pool)) out.push(host);
  }
  return out;
}

/**
 * What write.lua would do with `ops` on `state`, without writing: the state after them, or the
 * same refusal the script gives (missing_pool, pool_in_use, not_found, in op order). Dry-runs use
 * it, so a rehearsal is refused exactly when the write would be; a test runs random batches
 * through both and compares. The compare-and-set (If-Match) is the caller's: it needs the revision.
 */
export function checkOps(state: State, ops: readonly Op[]): State {
  const s: State = { defaultUpstream: state.defaultUpstream, pools: copyDict(state.pools), routes: copyDict(state.routes) };
  const missing = (names: string[]) => names.find((p) => !Object.hasOwn(s.pools, p));
  ops.forEach((op, opIndex) => {
    switch (op.op) {
      case "pool.put":
        s.pools[op.name] = op.pool;
        break;
      case "pool.del": {
        if (!Object.hasOwn(s.pools, op.name)) throw new WriteRefused({ code: "not_found", opIndex });
        const who = referrers(s, op.name);
        if (who.length > 0) throw new WriteRefused({ code: "pool_in_use", opIndex, pool: op.name, referrers: who });
        delete s.pools[op.name];
        break;
      }
      case "route.put": {
        const gone = missing(routePools(op.route));
        if (gone) throw new WriteRefused({ code: "missing_pool", opIndex, pool: gone });
        s.routes[op.host] = op.route;
        break;
      }
      case "route.del":
        if (!Object.hasOwn(s.routes, op.host)) throw new WriteRefused({ code: "not_found", opIndex });
        delete s.routes[op.host];
        break;
      case "default.put": {
        const gone = op.upstream === null ? undefined : missing(upstreamPools(op.upstream));
        if (gone) throw new WriteRefused({ code: "missing_pool", opIndex, pool: gone });
        s.defaultUpstream = op.upstream;
        break;
      }
    }
  });
  return s;
}

/** `route.put demo.local`, `pool.del blue`, `default.put`: an op in a line, for summaries and messages. */
export function describeOp(op: Op): string {
  switch (op.op) {
    case "pool.put":
    case "pool.del":
      return `${op.op} ${op.name}`;
    case "route.put":
    case "route.del":
      return `${op.op} ${op.host}`;
    case "default.put":
      return op.op;
  }
}

/** One line for a revision: its note, then up to three ops and how many more. */
export function summarizeChange(ops: readonly Op[], note?: string): string {
  const shown = ops.slice(0, 3).map(describeOp).join(", ");
  const more = ops.length > 3 ? ` and ${ops.length - 3} more` : "";
  return `${note ? `${note}: ` : ""}${shown}${more}`;
}
