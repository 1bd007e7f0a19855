import { createServer, type Server, type ServerResponse } from "node:http";
import type { PoolHealthReport } from "@switchyard/shared";
import type { Rejection } from "./sync/sync.js";

export interface AdminStatus {
  id: string;
  /** The lineage of the table served; with `revision` it names the table. */
  epoch: string | null;
  revision: number;
  /** Where the table came from: the last good table on disk, or Redis. */
  source: "disk" | "redis" | null;
  /** sha256 of the served state's canonical JSON (compare with GET /v1/state); null before a table. */
  digest: string | null;
  /** The table last written to AGENT_STATE_DIR (absent without one; null before the first write). */
  disk?: { epoch: string; revision: number } | null;
  appliedAt: string | null;
  redis: "connected" | "disconnected";
  lastError: string | null;
  routes: number;
  pools: number;
  /** The newest revision this agent refused and has not applied since (absent when none). */
  rejected?: Rejection;
  /** Pools whose every target is out, so this agent routes to all of them (panic); empty when none. */
  panic: string[];
  /** Per pool and target: healthy, unhealthy, ejected, draining or slow_start (a multi-process agent: its first worker's view). */
  health: PoolHealthReport[];
  /** Each worker's own view, when the agent runs several processes. */
  workers?: { pid: number; epoch: string | null; revision: number; redis: string; lastError: string | null; ready: boolean }[];
}

export interface AdminDeps {
  ready(): boolean;
  status(): AdminStatus;
  /** The Prometheus scrape (signals/metrics.ts); absent with AGENT_METRICS=off, and /metrics answers 404. */
  metrics?: (() => Promise<{ contentType: string; body: string }>) | undefined;
}

/** One proxy process's own view (edge.ts); a cluster worker reports it to its primary. */
export interface EdgeStatus {
  epoch: string | null;
  revision: number;
  source: "disk" | "redis" | null;
  digest: string | null;
  disk?: { epoch: string; revision: number } | null;
  appliedAt: number | null;
  redis: "connected" | "disconnected";
  lastError: string | null;
  ready: boolean;
  routes: number;
  pools: number;
  rejected: Rejection | null;
  panic: string[];
  health: PoolHealthReport[];
}

/** The admin view of a single-process agent: its one edge, ready once it has a table. */
export function edgeAdmin(id: string, edge: { status(): EdgeStatus }): AdminDeps {
  return {
    ready: () => edge.status().ready,
    status: () => {
      const { epoch, revision, source, digest, disk, appliedAt, redis, lastError, routes, pools, rejected, panic, health } = edge.status();
      const at = appliedAt === null ? null : new Date(appliedAt).toISOString();
      return { id, epoch, revision, source, digest, ...(disk !== undefined ? { disk } : {}), appliedAt: at, redis, lastError, routes, pools, ...(rejected ? { rejected } : {}), panic, health };
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
}

/** Read-only admin listener (bind it to loopback): liveness, readiness (a table is applied), status, metrics. */
export function createAdminServer(deps: AdminDeps): Server {
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const known = path === "/healthz" || path === "/readyz" || path === "/status" || (path === "/metrics" && deps.metrics !== undefined);
    if (!known) return json(res, 404, { error: "not_found", message: `no endpoint ${path}` });
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET");
      return json(res, 405, { error: "method_not_allowed", message: "the admin endpoints are read-only; use GET" });
    }
    if (path === "/healthz") return json(res, 200, { status: "ok" });
    if (path === "/metrics" && deps.metrics) {
      deps.metrics().then(
        ({ contentType, body }) => res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" }).end(body),
        // A worker that does not answer the primary's scrape in time (prom-client waits 5 s).
        () => json(res, 503, { error: "metrics_unavailable", message: "the metrics could not be collected; try again" }),
      );
      return;
    }
    if (path === "/readyz") {
      return deps.ready() ? json(res, 200, { status: "ready" }) : json(res, 503, { error: "not_ready", message: "no route table applied yet" });
    }
    return json(res, 200, deps.status());
  });
}
