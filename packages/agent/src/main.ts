import cluster from "node:cluster";
import { once } from "node:events";
import type { BlockList } from "node:net";
import { pino } from "pino";
import { buildKeys } from "@switchyard/shared";
import { createAdminServer, edgeAdmin, type AdminDeps } from "./admin.js";
import { loadConfigOrExit } from "./config.js";
import { drain, stopOnSignals } from "./drain.js";
import { startEdge } from "./edge.js";
import { missingNodeFlags } from "./node-flags.js";
import { startPrimary, type WorkerReport } from "./primary.js";
import { proofConnection, redisTarget } from "./redis.js";
import { answerPrimaryScrapes, clusterScrape, registryScrape } from "./signals/metrics.js";
import { parseCidrs } from "./serve/headers.js";
import { Proof, proofOptions } from "./sync/proof.js";

// The composition root. One process (AGENT_WORKERS=1) is the whole agent (edge.ts wires it); with
// more, the primary forks workers that each run the serve and push flows, and proves for them all.
let trusted: BlockList | undefined;
const config = loadConfigOrExit(process.env, (env) => {
  try {
    trusted = parseCidrs(env.AGENT_TRUSTED_PROXIES ?? "");
    return [];
  } catch (err) {
    return [`AGENT_TRUSTED_PROXIES: ${(err as Error).message}`];
  }
});
const [multi, workerIndex] = [config.workers > 1, Number(process.env.SWITCHYARD_WORKER_INDEX ?? 0)];
const log = pino({ name: "switchyard-agent", level: config.logLevel, base: { id: config.id, ...(cluster.isWorker ? { worker: workerIndex } : {}) } });

if (multi && cluster.isWorker) {
  // A worker serves and syncs on its own; its primary proves for it from these reports.
  const report = () => process.send?.({ type: "edge-status", pid: process.pid, ...edge.status() } satisfies WorkerReport);
  const edge = await startEdge(config, trusted as BlockList, log, { proof: false, probes: workerIndex === 1, onChange: () => report() });
  if (edge.metrics) answerPrimaryScrapes(edge.metrics.registry);
  setInterval(report, 1000).unref();
  report();
  stopOnSignals(edge.stop, config.drainTimeoutMs + 5000, log);
} else {
  let role: AdminDeps & { stop(): Promise<void> };
  if (multi) {
    const redis = proofConnection(redisTarget(config), log);
    const primary = startPrimary(config, new Proof(redis, buildKeys(config.prefix), proofOptions(config), log), redis, log);
    // Every worker's metrics, summed (signals/metrics.ts); the primary serves no traffic of its own.
    role = config.metrics ? { ...primary, metrics: clusterScrape() } : primary;
  } else {
    const edge = await startEdge(config, trusted as BlockList, log, { proof: true, probes: true });
    role = { ...edgeAdmin(config.id, edge), stop: edge.stop, ...(edge.metrics ? { metrics: registryScrape(edge.metrics.registry) } : {}) };
  }
  const admin = createAdminServer(role);
  admin.listen(config.adminPort, config.adminHost);
  await once(admin, "listening");
  log.info({ port: config.port, admin: admin.address(), engine: config.engine, workers: config.workers }, "agent listening");
  const missing = multi ? [] : missingNodeFlags(process.execArgv);
  if (missing.length > 0) log.warn({ missing }, "started without the agent's Node flags: expect more memory and longer GC pauses during reloads (see README)");
  const stop = async () => {
    await role.stop();
    await drain(admin, 1000);
  };
  stopOnSignals(stop, config.drainTimeoutMs + 5000, log);
}
