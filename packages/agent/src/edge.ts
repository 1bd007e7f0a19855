import { once } from "node:events";
import type { BlockList } from "node:net";
import type { Server } from "node:http";
import type { Logger } from "pino";
import { Slicer, StoreLineage, StoreReader, buildKeys, digestOf, type State } from "@switchyard/shared";
import type { EdgeStatus } from "./admin.js";
import type { AgentConfig } from "./config.js";
import { drain } from "./drain.js";
import { edgeConnections, redisTarget } from "./redis.js";
import { createProxyServer } from "./serve/front/listener.js";
import { ActiveChecker } from "./serve/health/active.js";
import { HealthRegistry } from "./serve/health/registry.js";
import { TableHolder } from "./serve/holder.js";
import { Upstreams } from "./serve/upstreams.js";
import { TrafficCounters } from "./signals/counters.js";
import { AgentMetrics, type UpstreamHealthSample } from "./signals/metrics.js";
import { resultReporter } from "./signals/results.js";
import { ProbeResponder } from "./signals/probes.js";
import { RedisLink } from "./sync/link.js";
import { Proof, proofOptions } from "./sync/proof.js";
import { DiskTable } from "./sync/disk.js";
import { SyncEngine } from "./sync/sync.js";

export interface EdgeOptions {
  /** Heartbeat and acks from this process (single-process agent); a cluster worker leaves them to its primary. */
  proof: boolean;
  /** Answer preflight probes (exactly one process per agent does). */
  probes: boolean;
  /** Called when what status() reports may have changed: after an apply, or a refused revision. */
  onChange?: () => void;
  /** Overrides where the `switchyard_agent_upstream_health` gauge reads (default: this process's health registry). */
  health?: () => Iterable<UpstreamHealthSample>;
}

/**
 * The gauge's rows from the health registry: up (1) only when a target is "healthy"; unhealthy,
 * ejected, draining and slow_start all read 0 (the heartbeat and /status carry the exact state).
 */
export function upstreamHealth(health: HealthRegistry): UpstreamHealthSample[] {
  return health.targetStates().map((r) => ({ pool: r.pool, target: r.target, up: r.state === "healthy" }));
}

/** The upstream side of the serve flow: h1 pools per target, and http-proxy for WebSocket upgrades. */
export function createEngine(config: AgentConfig, log: Logger): Upstreams {
  return new Upstreams({ upstreamTimeoutMs: config.upstreamTimeoutMs, log });
}

/**
 * One proxy process, wired: the serve flow (proxy server reading the holder's table once per
 * request) and the push flow (link -> sync -> holder swap), with proof of apply, probes and the
 * traffic counters. The whole agent, or one worker of a multi-process agent, where each worker
 * keeps its own subscription and table. A sub-root of main.ts: it builds what one process needs.
 */
export async function startEdge(config: AgentConfig, trusted: BlockList, log: Logger, opts: EdgeOptions) {
  const keys = buildKeys(config.prefix);
  const engine = createEngine(config, log);
  // One cooperative budget for the whole reload (snapshot read, then compile): ~0.5 ms of work at a
  // time, so requests keep flowing on the old table; the new one is swapped in with one assignment.
  // A scavenge of the objects a reload keeps (1-3 ms) can land on any slice, so slices stay short:
  // 0.5 ms against 1 ms, 10k-route reloads under traffic, three interleaved A/B runs of 8 reloads:
  // longest block median 3.2-4.5 ms vs 3.9-4.6, max 5.1-7.1 vs 7.6-10.1, reload time unchanged.
  const slicer = new Slicer(0.5);
  // Per-target health outlives tables (keyed by pool and address); active checks follow each swap.
  const health = new HealthRegistry(log);
  const checker = new ActiveChecker(health, log);
  const holder = new TableHolder(engine, slicer, log, health, checker.reconcile);

  // The push flow. Proofs and probe reports write on the command connection, sync reads on `read`.
  const conns = edgeConnections(redisTarget(config), log);
  const channels: Record<string, string> = opts.probes ? { probe: keys.probes } : {};
  const link = new RedisLink({ command: conns.read, subscriber: conns.subscriber, channel: keys.changes, channels, pingIntervalMs: config.pingIntervalMs, pingTimeoutMs: config.pingTimeoutMs }, log);
  const proof = opts.proof ? new Proof(conns.command, keys, proofOptions(config), log) : undefined;
  proof?.setHealthSource(() => health.report());
  const lineage = new StoreLineage(conns.command, keys);
  const disk = config.stateDir ? new DiskTable(config.stateDir, log) : undefined;
  const sync = new SyncEngine({
    link, reader: new StoreReader(conns.read, keys), install: holder.install, slicer, log, retryMs: 500, checkMs: 500,
    onApplied: (revision, appliedAt, epoch, state) => {
      proof?.applied(revision, appliedAt, epoch);
      if (epoch !== null) disk?.save({ epoch, revision, state });
      opts.onChange?.();
    },
    onStoreLost: (held) => {
      lineage.offer({ agent: config.id, ...held, at: Date.now() }).then(
        (recorded) => recorded && log.info({ epoch: held.epoch, revision: held.revision }, "offered our table for the store's restore"),
        (err: Error) => log.warn({ err: err.message }, "table offer not sent"),
      );
      opts.onChange?.();
    },
    onRejection: (rejected) => {
      proof?.setRejected(rejected);
      opts.onChange?.();
    },
  });
  const probes = opts.probes ? new ProbeResponder({ redis: conns.command, keys, agentId: config.id, log }) : undefined;
  if (probes) link.on("probe", (raw: string) => probes.handle(raw));

  // Per-upstream request/error counts for the controller's canary decisions, flushed every second.
  const counters = new TrafficCounters({ redis: conns.stats, keys, flushMs: 1000, log });
  // Metrics (AGENT_METRICS) and the access log (AGENT_ACCESS_LOG) ride on the same per-request hook.
  const metrics = config.metrics
    ? new AgentMetrics({ revision: () => holder.current?.revision ?? 0, redisUp: () => sync.status().redis === "connected", health: opts.health ?? (() => upstreamHealth(health)) })
    : undefined;
  const access = config.accessLog ? log.child({ log: "access" }, { level: "info" }) : undefined;
  const proxy: Server = createProxyServer({
    table: holder, upstreams: engine, trustedProxies: trusted, log, onResult: resultReporter({ counters: counters.record, metrics, access }), timed: metrics !== undefined || access !== undefined,
    fastPath: config.fastPath, underscores: config.underscoreHeaders, ...(config.revisionHeader ? { revisionHeader: config.revisionHeader } : {}),
  });
  // Upgraded (WebSocket) sockets leave the HTTP server's bookkeeping; the drain deadline must still cut them.
  const upgraded = new Set<import("node:stream").Duplex>();
  proxy.on("upgrade", (_req, socket: import("node:stream").Duplex) => {
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
  });
  proxy.listen(config.port, config.host);
  await once(proxy, "listening");
  // The last good table from disk serves at once, before Redis answers (and whether it ever does).
  const fromDisk = await disk?.load();
  if (fromDisk) {
    await sync.seed(fromDisk);
    log.info({ epoch: fromDisk.epoch, revision: fromDisk.revision, path: disk?.path }, "serving the table from disk until Redis confirms it");
  }
  proof?.start();
  sync.start(); // before the link starts, so its first 'up' is heard
  await link.start();
  counters.start();

  // The served state's digest, computed when asked and kept while the state is the same object.
  let digested: { state: State; digest: string } | undefined;
  const digest = (): string | null => {
    const state = sync.heldState();
    if (state === null) return null;
    if (digested?.state !== state) digested = { state, digest: digestOf(state) };
    return digested.digest;
  };

  return {
    proxy,
    holder,
    metrics,
    health,
    status(): EdgeStatus {
      const table = holder.current;
      const { epoch, revision, source, appliedAt, redis, lastError, rejected } = sync.status();
      return {
        epoch, revision, source, digest: digest(), ...(disk ? { disk: disk.stored } : {}), appliedAt, redis, lastError, rejected,
        ready: table !== undefined, routes: table?.routeCount ?? 0, pools: table?.poolCount ?? 0,
        panic: health.panics(), health: health.report(),
      };
    },
    /** Drain in-flight requests (bounded), flush counters, deregister, close upstream pools. */
    async stop(): Promise<void> {
      await drain(proxy, config.drainTimeoutMs, () => {
        for (const s of upgraded) s.destroy();
      });
      await counters.stop();
      sync.stop();
      await disk?.flushed();
      probes?.close();
      checker.close();
      await proof?.stop();
      await link.close();
      conns.command.disconnect(); // the link's read connection today; its own (primary) one with a read replica
      engine.close();
    },
  };
}

export type Edge = Awaited<ReturnType<typeof startEdge>>;
