import type { Redis } from "ioredis";
import type { Keys } from "../keys.js";
import { dict } from "../model/dict.js";
import { hostProblem } from "../model/host.js";
import { routePools, upstreamPools } from "../model/refs.js";
import { Pool, PoolName, Route, Upstream, type State } from "../model/schema.js";
import { zodProblems } from "../model/validate.js";
import { Slicer } from "../slicer.js";
import { CorruptState } from "./errors.js";
import type { Snapshot } from "./read.js";

export interface CooperativeOptions {
  /** Entries per HSCAN reply; small replies keep reply parsing short too. */
  batch?: number;
  /** Longest run of parsing/validation before yielding to the event loop. */
  sliceMs?: number;
  /**
   * A budget shared with the work that follows the read (the agent's table compile), so the read's
   * last slice and the compile's first one cannot add up to one long block. Overrides `sliceMs`.
   */
  slicer?: Slicer;
  /** Reads restarted because a write landed mid-scan, before giving up. */
  attempts?: number;
}

const parse = (raw: string, what: string): unknown => {
  try {
    return JSON.parse(raw);
  } catch {
    throw new CorruptState(`${what} is not valid JSON`);
  }
};

function check<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: import("zod").ZodError } }, v: unknown, field: string): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new CorruptState(zodProblems(r.error, field).map((p) => `${p.field}: ${p.message}`).join("; "));
  return r.data;
}

async function scanHash(redis: Redis, key: string, batch: number, each: (field: string, value: string) => void, slicer: Slicer): Promise<void> {
  let cursor = "0";
  do {
    const [next, flat] = await redis.hscan(key, cursor, "COUNT", batch);
    cursor = next;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      each(flat[i] as string, flat[i + 1] as string);
      if (i % 32 === 0) await slicer.tick();
    }
    await slicer.tick();
  } while (cursor !== "0");
}

/**
 * The same validated snapshot as StoreReader.snapshot(), read without blocking the event loop:
 * HSCAN in small batches, each entry parsed and validated on its own, yielding every `sliceMs`.
 * Consistency: every write increments the revision in the same script, so an unchanged revision
 * before and after the scan means no write landed in between; otherwise the read starts over.
 */
export async function cooperativeSnapshot(redis: Redis, keys: Keys, opts: CooperativeOptions = {}): Promise<Snapshot | undefined> {
  const { batch = 256, sliceMs = 2, attempts = 3 } = opts;
  const slicer = opts.slicer ?? new Slicer(sliceMs);
  for (let attempt = 0; attempt < attempts; attempt++) {
    // The epoch is read with the revision: a restore or init mid-scan changes one or the other.
    const [epoch, beforeRaw] = await redis.mget(keys.epoch, keys.rev);
    const before = Number(beforeRaw ?? 0);
    const pools: State["pools"] = dict();
    const routes: State["routes"] = dict();
    try {
      await scanHash(redis, keys.pools, batch, (name, raw) => {
        check(PoolName, name, "pools");
        pools[name] = check(Pool, parse(raw, `pool '${name}'`), `pools.${name}`);
      }, slicer);
      await scanHash(redis, keys.routes, batch, (host, raw) => {
        const problem = hostProblem(host);
        if (problem) throw new CorruptState(`routes.${host}: ${problem}`);
        const route = check(Route, parse(raw, `route '${host}'`), `routes.${host}`);
        const missing = routePools(route).find((p) => !Object.hasOwn(pools, p));
        if (missing) throw new CorruptState(`route '${host}' names unknown pool '${missing}'`);
        routes[host] = route;
      }, slicer);
    } catch (err) {
      // A pool and a route added mid-scan can look like a dangling reference: that is only
      // corruption if the revision did not move; otherwise read again.
      if (err instanceof CorruptState && Number((await redis.get(keys.rev)) ?? 0) !== before) continue;
      throw err;
    }
    const [def, after, epochAfter] = await redis.mget(keys.default, keys.rev, keys.epoch);
    if (Number(after ?? 0) !== before || epochAfter !== epoch) continue;
    const defaultUpstream = def === null || def === undefined ? null : check(Upstream, parse(def, "default upstream"), "defaultUpstream");
    const missing = defaultUpstream === null ? undefined : upstreamPools(defaultUpstream).find((p) => !Object.hasOwn(pools, p));
    if (missing) throw new CorruptState(`default upstream names unknown pool '${missing}'`);
    return { epoch: epoch ?? null, revision: before, state: { defaultUpstream, pools, routes } };
  }
  return undefined;
}
