import type { Redis } from "ioredis";
import { Pool, PoolName, Route, Upstream, hostProblem, routePools, upstreamPools, type Keys } from "@switchyard/shared";

/** One key (or hash field) in Redis that does not hold what Switchyard wrote: never applied, never overwritten silently. */
export interface EntryProblem {
  /** The Redis key, such as `{switchyard}:routes`. */
  key: string;
  /** The hash field (host or pool name), when the problem is one entry of a hash. */
  field?: string;
  message: string;
}

/** Enough to name the keys an operator must fix; the count says how many there were. */
export const MAX_PROBLEMS = 100;

type Raw = [Error | null, unknown][];

const json = (raw: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false };
  }
};

/**
 * Checks every entry of the state on its own (unlike a snapshot, which stops at the first bad one):
 * the revision counter, the default upstream, each pool and each route, and the pools they name.
 * Read with a pipeline, not MULTI, so it also runs while Redis is out of memory (MULTI is refused
 * then); the revision is read before and after, and a read that a write overtook is read again.
 */
export async function checkEntries(redis: Redis, keys: Keys, attempts = 3): Promise<{ problems: EntryProblem[]; total: number }> {
  for (let attempt = 1; ; attempt++) {
    const raw = (await redis.pipeline().get(keys.rev).get(keys.default).hgetall(keys.pools).hgetall(keys.routes).get(keys.rev).exec()) as Raw;
    const [rev, def, pools, routes, revAfter] = raw;
    if (attempt < attempts && (rev?.[1] !== revAfter?.[1])) continue;
    return problemsOf(keys, rev, def, pools, routes);
  }
}

type Reply = [Error | null, unknown] | undefined;

function problemsOf(keys: Keys, rev: Reply, def: Reply, pools: Reply, routes: Reply): { problems: EntryProblem[]; total: number } {
  const out: EntryProblem[] = [];
  const add = (key: string, message: string, field?: string) => out.push(field === undefined ? { key, message } : { key, field, message });
  // A reply error other than WRONGTYPE is Redis failing, not the data: the caller answers it as such.
  const value = (r: Reply, key: string): unknown => {
    if (r?.[0]) {
      if (/^WRONGTYPE/.test(r[0].message)) return add(key, "holds the wrong Redis type"), undefined;
      throw r[0];
    }
    return r?.[1];
  };
  const revValue = value(rev, keys.rev);
  if (typeof revValue === "string" && !/^\d{1,15}$/.test(revValue)) add(keys.rev, "is not a revision number");

  const poolNames = new Set<string>();
  const poolHash = value(pools, keys.pools) as Record<string, string> | undefined;
  for (const [name, v] of Object.entries(poolHash ?? {})) {
    poolNames.add(name);
    if (!PoolName.safeParse(name).success) add(keys.pools, "is not a valid pool name", name);
    const parsed = json(v);
    if (!parsed.ok) add(keys.pools, "is not valid JSON", name);
    else if (!Pool.safeParse(parsed.value).success) add(keys.pools, "is not a valid pool", name);
  }
  const missing = (names: string[]) => names.find((p) => !poolNames.has(p));

  const routeHash = value(routes, keys.routes) as Record<string, string> | undefined;
  for (const [host, v] of Object.entries(routeHash ?? {})) {
    const hp = hostProblem(host);
    if (hp) add(keys.routes, `is not a valid host: ${hp}`, host);
    const parsed = json(v);
    if (!parsed.ok) {
      add(keys.routes, "is not valid JSON", host);
      continue;
    }
    const route = Route.safeParse(parsed.value);
    if (!route.success) add(keys.routes, "is not a valid route", host);
    else {
      const p = missing(routePools(route.data));
      if (p !== undefined) add(keys.routes, `names pool '${p}', which does not exist`, host);
    }
  }

  const defValue = value(def, keys.default);
  if (typeof defValue === "string") {
    const parsed = json(defValue);
    const up = parsed.ok ? Upstream.safeParse(parsed.value) : undefined;
    if (!parsed.ok) add(keys.default, "is not valid JSON");
    else if (!up?.success) add(keys.default, "is not a valid upstream");
    else {
      const p = missing(upstreamPools(up.data));
      if (p !== undefined) add(keys.default, `names pool '${p}', which does not exist`);
    }
  }
  return { problems: out.slice(0, MAX_PROBLEMS), total: out.length };
}

/** `{p}:routes bad.local (is not valid JSON)`, for messages and logs. */
export const describeProblem = (p: EntryProblem): string => `${p.key}${p.field === undefined ? "" : ` ${p.field}`} (${p.message})`;
