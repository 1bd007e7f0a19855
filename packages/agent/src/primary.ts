import cluster, { type Worker } from "node:cluster";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { AdminStatus, EdgeStatus } from "./admin.js";
import type { AgentConfig } from "./config.js";
import type { Proof } from "./sync/proof.js";
import type { Rejection } from "./sync/sync.js";
import { missingNodeFlags } from "./node-flags.js";

/** What a worker tells its primary, on every apply and every second. */
export interface WorkerReport extends EdgeStatus {
  type: "edge-status";
  pid: number;
}

export const isWorkerReport = (m: unknown): m is WorkerReport => typeof m === "object" && m !== null && (m as { type?: unknown }).type === "edge-status";

const RESPAWN_MS = 1000;

/** The agent's nack: the newest revision any worker refused. */
const newestRejection = (all: WorkerReport[]): Rejection | null =>
  all.reduce<Rejection | null>((newest, r) => (r.rejected && (!newest || r.rejected.revision > newest.revision) ? r.rejected : newest), null);

/**
 * The primary of a multi-process agent (AGENT_WORKERS > 1). It serves no traffic: it forks the
 * workers (each with its own subscription and table), respawns one that dies, and proves for the
 * agent as a whole: its ack and heartbeat carry the LOWEST revision every live worker has applied,
 * so "applied" means applied by every process that can take a request.
 *
 * `proof` writes through `redis` (redis.ts proofConnection); both are the primary's from here on.
 */
export function startPrimary(config: AgentConfig, proof: Proof, redis: Redis, log: Logger) {
  const reports = new Map<number, WorkerReport>();
  let stopping = false;
  let proven = -1;
  // The proof record lists each live worker's revision, and the newest revision any of them refused.
  const reported = () => {
    const all = [...reports.values()];
    proof.setWorkers(all.map((r) => ({ pid: r.pid, revision: r.revision })));
    proof.setRejected(newestRejection(all));
    return all;
  };
  // Every worker checks and ejects on its own; the record carries the first worker's view.
  const firstHealth = () => [...reports.values()].sort((a, b) => a.pid - b.pid)[0]?.health;
  proof.setHealthSource(firstHealth);

  const fork = (index: number) => {
    const worker = cluster.fork({ SWITCHYARD_WORKER_INDEX: String(index) });
    worker.on("message", (m: unknown) => {
      if (!isWorkerReport(m)) return;
      reports.set(m.pid, m);
      const all = reported();
      // Until every worker has a table, the agent as a whole has applied nothing new.
      if (all.length < config.workers || !all.every((r) => r.ready)) return;
      const min = Math.min(...all.map((r) => r.revision));
      if (min !== proven) {
        proven = min;
        proof.applied(min, Math.max(...all.map((r) => r.appliedAt ?? 0)));
      }
    });
    worker.on("exit", (code, signal) => {
      if (worker.process.pid !== undefined) reports.delete(worker.process.pid);
      reported();
      if (stopping) return;
      log.error({ index, code, signal }, "worker died; respawning");
      setTimeout(() => !stopping && fork(index), RESPAWN_MS).unref();
    });
    return worker;
  };
  // Workers run under the agent's flags even when the primary was started without them.
  const missing = missingNodeFlags(process.execArgv);
  if (missing.length > 0) cluster.setupPrimary({ execArgv: [...process.execArgv, ...missing] });
  for (let i = 1; i <= config.workers; i++) fork(i);
  proof.start();

  return {
    ready: () => reports.size === config.workers && [...reports.values()].every((r) => r.ready),
    status: (): AdminStatus => {
      const all = [...reports.values()].sort((a, b) => a.pid - b.pid);
      const min = all.length ? Math.min(...all.map((r) => r.revision)) : 0;
      const appliedAt = proven >= 0 ? proof.record().appliedAt : null;
      const rejected = newestRejection(all);
      return {
        id: config.id,
        revision: all.length === config.workers ? min : 0,
        appliedAt: appliedAt === null ? null : new Date(appliedAt).toISOString(),
        redis: all.length > 0 && all.every((r) => r.redis === "connected") ? "connected" : "disconnected",
        lastError: all.find((r) => r.lastError !== null)?.lastError ?? (all.length < config.workers ? `${config.workers - all.length} worker(s) not reporting` : null),
        routes: all[0]?.routes ?? 0,
        pools: all[0]?.pools ?? 0,
        ...(rejected ? { rejected } : {}),
        panic: [...new Set(all.flatMap((r) => r.panic ?? []))],
        health: firstHealth() ?? [],
        workers: all.map((r) => ({ pid: r.pid, revision: r.revision, redis: r.redis, lastError: r.lastError, ready: r.ready })),
      };
    },
    /** SIGTERM every worker (each drains), wait for them, then deregister. */
    async stop(): Promise<void> {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
        if (w.isDead()) return resolve();
        w.once("exit", () => resolve());
        w.process.kill("SIGTERM");
      })));
      await proof.stop();
      redis.disconnect();
    },
  };
}
