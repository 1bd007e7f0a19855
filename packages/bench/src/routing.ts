import { pathToFileURL } from "node:url";
import { buildKeys } from "@switchyard/shared";
import { AGENT_NODE_FLAGS } from "@switchyard/agent";
import { freePort, randomPrefix } from "@switchyard/testkit";
import { compileTable, type RouteTable } from "../../agent/src/serve/table.js";
import { WRK, saturate } from "./load.js";
import { QUICK, ROUNDS, cpuMicros, processTree, ratioOf, rssMB, sleep, summarize, type Summary } from "./measure.js";
import { startAgent, startServer, stopAll, type AgentProc, type Server } from "./procs.js";
import { pushAgent } from "./push-agent.js";
import { resyncUnderLoad, type ResyncRow } from "./resync.js";
import { bigState, connect, hostName, writeState } from "./state.js";

/**
 * Section 2: routing with 10 000 hosts and 1 000 pools against 1 host. Lookup cost in-process
 * (table.resolve), then through a real agent process with random Host headers, snapshot load
 * time, RSS, and the longest event-loop block in the agent while it reloads a full snapshot under
 * traffic (measured by eld-probe.mjs preloaded into that agent).
 */

const HOSTS = 10_000;
const POOLS = 1_000;
const SAT_S = QUICK ? 2 : 4;
const LOOKUPS = QUICK ? 200_000 : 1_000_000;
const RESYNC_RATE = 1000;
const RESYNC_ROUNDS = 5;

export interface RoutingReport {
  hosts: number;
  pools: number;
  tool: string;
  satSeconds: number;
  lookupBig: Summary;
  lookupOne: Summary;
  lookupRatio: Summary;
  rpsBig: Summary;
  rpsOne: Summary;
  rpsRatio: Summary;
  cpuRatio: Summary;
  loadMs: Summary;
  loadOneMs: Summary;
  rssAfterLoad: Summary;
  rssAfterTraffic: Summary;
  rssOne: Summary;
  rssOneAfterLoad: Summary;
  /** One fresh agent under plain node (no AGENT_NODE_FLAGS), after loading the 10k state. */
  rssPlainAfterLoad: number;
  resyncRate: number;
  /** First row: the agent as shipped (the target applies to it). */
  resync: ResyncRow[];
  resyncFailed: number;
  resyncFailedDetail: string;
}

/** ns per resolve() over `hosts` drawn at random (the draw order is precomputed, outside the timing). */
function lookupNs(table: RouteTable, hosts: readonly string[]): number {
  const order = Array.from({ length: 1 << 16 }, () => hosts[Math.floor(Math.random() * hosts.length)] as string);
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS; i++) if (table.resolve(order[i & 0xffff] as string, "/").kind === "target") hits++;
  const ns = Number(process.hrtime.bigint() - t0) / LOOKUPS;
  if (hits !== LOOKUPS) throw new Error(`only ${hits} of ${LOOKUPS} lookups hit a route`);
  return ns;
}

/** The agent's push flow (link -> sync -> compile) from start to the first installed table, in this process. */
async function loadOnce(redisUrl: string, prefix: string): Promise<number> {
  let installed: () => void = () => undefined;
  const done = new Promise<void>((r) => (installed = r));
  const t0 = performance.now();
  const agent = pushAgent(redisUrl, buildKeys(prefix), { onApplied: () => installed() });
  await agent.start();
  await Promise.race([done, sleep(10_000).then(() => Promise.reject(new Error("snapshot load took over 10 s")))]);
  const ms = performance.now() - t0;
  await agent.stop();
  return ms;
}

export async function routing(redisUrl: string): Promise<RoutingReport> {
  const procs: Server[] = [];
  const redis = connect(redisUrl);
  try {
    const up = await startServer("upstream");
    procs.push(up);
    const target = `127.0.0.1:${up.port}`;
    const big = bigState(HOSTS, POOLS, target);
    const one = bigState(1, 1, target);
    const hosts = Object.keys(big.routes);

    // In-process lookups, interleaved: big, one, big, one, ...
    const [tBig, tOne] = [compileTable(big, 1), compileTable(one, 1)];
    const lb: number[] = [];
    const lo: number[] = [];
    for (let r = 0; r < ROUNDS + 2; r++) {
      lb.push(lookupNs(tBig, hosts));
      lo.push(lookupNs(tOne, [hostName(0)]));
    }

    const [pBig, pOne] = [randomPrefix("bench-rt"), randomPrefix("bench-rt1")];
    await writeState(redis, buildKeys(pBig), big);
    await writeState(redis, buildKeys(pOne), one);

    const load: number[] = [];
    const loadOne: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      load.push(await loadOnce(redisUrl, pBig));
      loadOne.push(await loadOnce(redisUrl, pOne));
    }

    const eldPort = await freePort();
    const probe = pathToFileURL(new URL("./eld-probe.mjs", import.meta.url).pathname).href;
    // RSS right after the first table is installed, over three fresh agent processes; the last one stays.
    const rssAfterLoad: number[] = [];
    let aBig: AgentProc = undefined as never;
    for (let r = 0; r < ROUNDS; r++) {
      const a = await startAgent({ redisUrl, prefix: pBig, id: `rt-big-${r}`, nodeArgs: ["--import", probe], env: { ELD_PORT: String(eldPort) } });
      rssAfterLoad.push(rssMB(processTree(a.pid)));
      if (r < ROUNDS - 1) await a.proc.stop("SIGTERM", 5000);
      else aBig = a;
    }
    procs.push(aBig);
    const rssOneAfterLoad: number[] = [];
    let aOne: AgentProc = undefined as never;
    for (let r = 0; r < ROUNDS; r++) {
      const a = await startAgent({ redisUrl, prefix: pOne, id: `rt-one-${r}` });
      rssOneAfterLoad.push(rssMB(processTree(a.pid)));
      if (r < ROUNDS - 1) await a.proc.stop("SIGTERM", 5000);
      else aOne = a;
    }
    procs.push(aOne);
    const [pidsBig, pidsOne] = [processTree(aBig.pid), processTree(aOne.pid)];

    const url = (a: Server) => `http://127.0.0.1:${a.port}/`;
    await saturate({ url: url(aBig), seconds: 1, hosts });
    await saturate({ url: url(aOne), seconds: 1, hosts: [hostName(0)] });
    const rpsB: number[] = [];
    const rpsO: number[] = [];
    const cpuB: number[] = [];
    const cpuO: number[] = [];
    const rssAfterTraffic: number[] = [];
    const rssOne: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const [a, pids, hs, rps, cpu] of [[aBig, pidsBig, hosts, rpsB, cpuB], [aOne, pidsOne, [hostName(0)], rpsO, cpuO]] as const) {
        const c0 = cpuMicros(pids);
        const res = await saturate({ url: url(a), seconds: SAT_S, hosts: hs });
        if (res.errors > 0) throw new Error(`${res.errors} errors through ${a.id}`);
        cpu.push((cpuMicros(pids) - c0) / res.requests);
        rps.push(res.rps);
      }
      rssAfterTraffic.push(rssMB(pidsBig));
      rssOne.push(rssMB(pidsOne));
    }

    // Full snapshot reloads under a paced load: the agent as shipped, and the same agent started
    // with plain `node` (none of AGENT_NODE_FLAGS), to show what the flags buy. Separate prefixes,
    // so each reload is its own.
    const pPlain = randomPrefix("bench-rt2");
    await writeState(redis, buildKeys(pPlain), big);
    const plainPort = await freePort();
    const aPlain = await startAgent({ redisUrl, prefix: pPlain, id: "rt-plain", withoutAgentFlags: true, nodeArgs: ["--import", probe], env: { ELD_PORT: String(plainPort) } });
    procs.push(aPlain);
    const rssPlainAfterLoad = rssMB(processTree(aPlain.pid));
    const resync = await resyncUnderLoad(redisUrl, [
      { label: `agent as shipped (node ${AGENT_NODE_FLAGS.join(" ")})`, agent: aBig, prefix: pBig, eldPort },
      { label: "agent under plain node (no flags)", agent: aPlain, prefix: pPlain, eldPort: plainPort },
    ], hosts, RESYNC_RATE, RESYNC_ROUNDS);

    return {
      hosts: HOSTS,
      pools: POOLS,
      tool: WRK ? "wrk + Lua random Host" : "autocannon, random Host",
      satSeconds: SAT_S,
      lookupBig: summarize(lb),
      lookupOne: summarize(lo),
      lookupRatio: ratioOf(lb, lo),
      rpsBig: summarize(rpsB),
      rpsOne: summarize(rpsO),
      rpsRatio: ratioOf(rpsB, rpsO),
      cpuRatio: ratioOf(cpuB, cpuO),
      loadMs: summarize(load),
      loadOneMs: summarize(loadOne),
      rssAfterLoad: summarize(rssAfterLoad),
      rssAfterTraffic: summarize(rssAfterTraffic),
      rssOne: summarize(rssOne),
      rssOneAfterLoad: summarize(rssOneAfterLoad),
      rssPlainAfterLoad,
      resyncRate: RESYNC_RATE,
      resync: resync.rows,
      resyncFailed: resync.failed,
      resyncFailedDetail: resync.failedDetail,
    };
  } finally {
    redis.disconnect();
    await stopAll(procs);
  }
}
