import cluster from "node:cluster";
import { once } from "node:events";
import type { BlockList } from "node:net";
import { pino } from "pino";
import { createAdminServer, type AdminStatus } from "./admin.js";
import { ConfigError, loadConfig, type AgentConfig } from "./config.js";
import { drain } from "./drain.js";
import { startEdge } from "./edge.js";
import { missingNodeFlags } from "./node-flags.js";
import { startPrimary, type WorkerReport } from "./primary.js";
import { parseCidrs } from "./serve/headers.js";

// The composition root. One process (AGENT_WORKERS=1) is the whole agent; with more, the primary
// forks workers that each run the serve and push flows, and proves for them all.
let config: AgentConfig;
let trusted: BlockList | undefined;
try {
  config = loadConfig(process.env, (env) => {
    try {
      trusted = parseCidrs(env.AGENT_TRUSTED_PROXIES ?? "");
      return [];
    } catch (err) {
      return [`AGENT_TRUSTED_PROXIES: ${(err as Error).message}`];
    }
  });
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`switchyard-agent: ${err.message}\n`);
  process.exit(2);
}

const multi = config.workers > 1;
const workerIndex = Number(process.env.SWITCHYARD_WORKER_INDEX ?? 0);
const log = pino({ name: "switchyard-agent", level: config.logLevel, base: { id: config.id, ...(cluster.isWorker ? { worker: workerIndex } : {}) } });
let stop: () => Promise<void>;

if (multi && cluster.isWorker) {
  const report = () => process.send?.({ type: "edge-status", pid: process.pid, ...edge.status() } satisfies WorkerReport);
  const edge = await startEdge(config, trusted as BlockList, log, { proof: false, probes: workerIndex === 1, onApplied: () => report() });
  setInterval(report, 1000).unref();
  report();
  stop = edge.stop;
} else {
  let status: () => AdminStatus;
  let ready: () => boolean;
  let stopRole: () => Promise<void>;
  if (multi) {
    const primary = startPrimary(config, log);
    [status, ready, stopRole] = [primary.status, primary.ready, primary.stop];
  } else {
    const edge = await startEdge(config, trusted as BlockList, log, { proof: true, probes: true });
    status = () => {
      const s = edge.status();
      return { id: config.id, revision: s.revision, appliedAt: s.appliedAt === null ? null : new Date(s.appliedAt).toISOString(), redis: s.redis, lastError: s.lastError, routes: s.routes, pools: s.pools };
    };
    [ready, stopRole] = [() => edge.status().ready, edge.stop];
  }
  const admin = createAdminServer({ ready, status });
  admin.listen(config.adminPort, config.adminHost);
  await once(admin, "listening");
  log.info({ port: config.port, admin: admin.address(), engine: config.engine, workers: config.workers }, "agent listening");
  const missing = multi ? [] : missingNodeFlags(process.execArgv);
  if (missing.length > 0) log.warn({ missing }, "started without the agent's Node flags: expect more memory and longer GC pauses during reloads (see README)");
  stop = async () => {
    await stopRole();
    await drain(admin, 1000);
  };
}

let stopping: Promise<void> | undefined;
function shutdown(signal: string): void {
  if (stopping) return;
  // Backstop: whatever hangs past the drain deadline (plus time to deregister) ends the process.
  setTimeout(() => {
    log.error("shutdown did not finish in time; exiting");
    process.exit(1);
  }, config.drainTimeoutMs + 5000).unref();
  stopping ??= (async () => {
    log.info({ signal }, "draining");
    await stop();
    log.info("stopped");
  })().then(() => process.exit(0));
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
