import { freePort, randomPrefix } from "@switchyard/testkit";
import { paced, saturate } from "./load.js";
import { QUICK, cpuMicros, fmtNum, processTree } from "./measure.js";
import { NGINX, startNginxPool, startNginxUpstream } from "./nginx.js";
import { startAgent, startServer, stopAll, type Server } from "./procs.js";
import { buildKeys, connect, writeState } from "./state.js";

/**
 * Section "dead target" (issue 13): a pool of four targets, one of them a port nothing listens on,
 * through the agent and through nginx at its defaults (max_fails=1, fail_timeout=10s,
 * proxy_next_upstream error timeout), beside the same pool with all four alive. Each proxy starts
 * fresh, so the first requests meet the dead target before anything knows it is dead. One round:
 * bounded to a few seconds per row, figures are indicative.
 */

const RATE = 500;
const RATE_MS = QUICK ? 1000 : 2000;
const SAT_S = QUICK ? 1 : 2;
const ALIVE = "alive.bench.local";
const DEAD = "dead.bench.local";

export interface DeadTargetRow {
  proxy: string;
  pool: "4 alive" | "1 of 4 dead";
  /** Requests sent that did not get a 200, over the three runs. */
  failed: number;
  /** Requests the paced client did not send because the proxy had fallen behind (a cold proxy). */
  skipped: number;
  requests: number;
  p50Ms: number;
  /** p50 minus the direct p50 (no proxy) at the same rate. */
  addedP50Ms: number;
  cpuUsPerReq: number;
  rps: number;
  /** What failed, when anything did. */
  detail: string;
}

export interface DeadTargetReport {
  rate: number;
  directP50Ms: number;
  rows: DeadTargetRow[];
  upstream: string;
}

export async function deadTarget(redisUrl: string): Promise<DeadTargetReport> {
  const started: { stop(): Promise<void> }[] = [];
  const procs: Server[] = [];
  try {
    const live: string[] = [];
    for (let i = 0; i < 4; i++) {
      if (NGINX) {
        const up = await startNginxUpstream();
        started.push(up);
        live.push(`127.0.0.1:${up.port}`);
      } else {
        const up = await startServer("upstream");
        procs.push(up);
        live.push(`127.0.0.1:${up.port}`);
      }
    }
    const dead = `127.0.0.1:${await freePort()}`;
    const pools = { "4 alive": live, "1 of 4 dead": [live[0], dead, live[1], live[2]] as string[] };
    const host = (pool: keyof typeof pools) => (pool === "4 alive" ? ALIVE : DEAD);
    const directPort = Number(live[0]?.split(":")[1]);

    const direct = await paced({ targets: [{ host: "127.0.0.1", port: directPort }], rate: RATE, hostHeader: () => ALIVE }, RATE_MS);
    const rows: DeadTargetRow[] = [];
    // Cold first (what the first requests meet: failures), then saturation (CPU), then warm (p50).
    const measure = async (proxy: string, port: number, pids: number[], pool: keyof typeof pools) => {
      const target = { targets: [{ host: "127.0.0.1", port }], rate: RATE, hostHeader: () => host(pool) };
      const cold = await paced(target, RATE_MS);
      const cpu0 = cpuMicros(pids);
      const s = await saturate({ url: `http://127.0.0.1:${port}/`, seconds: SAT_S, host: host(pool) });
      const cpu = cpuMicros(pids) - cpu0;
      const warm = await paced(target, RATE_MS);
      rows.push({
        proxy, pool, failed: cold.failed - cold.skipped + s.errors + warm.failed - warm.skipped, skipped: cold.skipped + warm.skipped,
        requests: cold.completed + s.requests + warm.completed,
        p50Ms: warm.p50Ms, addedP50Ms: warm.p50Ms - direct.p50Ms, cpuUsPerReq: s.requests > 0 ? cpu / s.requests : NaN, rps: s.rps,
        detail: [cold.errorDetail, s.errorDetail, warm.errorDetail].filter(Boolean).join("; "),
      });
    };
    for (const pool of ["4 alive", "1 of 4 dead"] as const) {
      // A fresh agent per pool: its first requests meet the dead target as a fresh nginx's do.
      const prefix = randomPrefix("bench-dead");
      const redis = connect(redisUrl);
      await writeState(redis, buildKeys(prefix), {
        defaultUpstream: null,
        pools: { app: { targets: pools[pool].map((address) => ({ address, weight: 1 })), keepalive: 64 } },
        routes: { [host(pool)]: { upstream: "app" } },
      });
      redis.disconnect();
      const agent = await startAgent({ redisUrl, prefix, id: `dead-${pool === "4 alive" ? "alive" : "dead"}` });
      procs.push(agent);
      await measure("agent", agent.port, processTree(agent.pid), pool);
      if (NGINX) {
        const n = await startNginxPool(pools[pool]);
        started.push(n);
        await measure("nginx (defaults: max_fails=1, fail_timeout=10s)", n.port, processTree(n.pid), pool);
      }
    }
    return { rate: RATE, directP50Ms: direct.p50Ms, rows, upstream: NGINX ? "nginx `return 200` (1 worker each)" : "Node http servers (servers.mjs)" };
  } finally {
    await stopAll(procs);
    await Promise.all(started.map((s) => s.stop()));
  }
}

export function renderDeadTarget(r: DeadTargetReport): string {
  const lines = [
    `A pool of four targets (${r.upstream}), one a port nothing listens on, against the same pool all alive. Each proxy starts fresh. ` +
      `Per row: a paced run at ${r.rate} rps on the cold proxy, a saturation run (CPU per request of the proxy's processes, rps), then a paced run ` +
      `again (p50, and p50 added over the direct p50 of ${fmtNum(r.directP50Ms, 3)} ms). Failed: requests without a 200 over the three runs. ` +
      "One round on a shared machine: indicative.",
    "",
    "| proxy | pool | failed / requests | not sent (fell behind) | p50 | p50 added | CPU µs/req | rps (saturation) | failures |",
    "|---|---|---|---|---|---|---|---|---|",
    ...r.rows.map((x) => `| ${x.proxy} | ${x.pool} | ${x.failed} / ${fmtNum(x.requests)} | ${x.skipped} | ${fmtNum(x.p50Ms, 3)} ms | ${fmtNum(x.addedP50Ms, 3)} ms | ${fmtNum(x.cpuUsPerReq, 1)} | ${fmtNum(x.rps)} | ${x.detail || "-"} |`),
  ];
  return lines.join("\n");
}
