import { Redis } from "ioredis";
import { pino } from "pino";
import { StoreWriter, buildKeys, type Keys, type Op, type State } from "@switchyard/shared";

/** A silent logger for in-process agents: their logs are not what is measured. */
export const quiet = pino({ level: "silent" });

export const hostName = (i: number) => `h${i}.bench.local`;

/**
 * The routing-scale state: `hosts` exact hosts spread over `pools` pools (host i -> pool i % pools).
 * Every pool targets the same upstream address, so the proxy keeps one keep-alive pool and what
 * grows is the table, not the number of upstream connections.
 */
export function bigState(hosts: number, pools: number, upstream: string): State {
  const s: State = { defaultUpstream: null, pools: {}, routes: {} };
  for (let p = 0; p < pools; p++) s.pools[`p${p}`] = { targets: [{ address: upstream, weight: 1 }], keepalive: 64 };
  for (let i = 0; i < hosts; i++) s.routes[hostName(i)] = { upstream: `p${i % pools}` };
  return s;
}

/** Writes a state through StoreWriter (the only write path) in batches of `batch` ops per revision. */
export async function writeState(redis: Redis, keys: Keys, state: State, batch = 500): Promise<number> {
  const writer = new StoreWriter(redis, keys, 2000);
  const ops: Op[] = [
    ...Object.entries(state.pools).map(([name, pool]): Op => ({ op: "pool.put", name, pool })),
    ...Object.entries(state.routes).map(([host, route]): Op => ({ op: "route.put", host, route })),
  ];
  if (state.defaultUpstream !== null) ops.push({ op: "default.put", upstream: state.defaultUpstream });
  let revision = 0;
  for (let i = 0; i < ops.length; i += batch) revision = (await writer.write(ops.slice(i, i + batch), { actor: "bench" })).revision;
  return revision;
}

export function connect(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on("error", () => undefined);
  return r;
}

export { buildKeys };
