import { once } from "node:events";
import type { Server } from "node:http";
import { buildKeys } from "@switchyard/shared";
import { createAdminServer } from "./admin.js";
import { ConfigError, loadConfig, type AgentConfig } from "./config.js";
import { drain } from "./drain.js";
import { createHttpProxyEngine } from "./serve/engine-http-proxy.js";
import { parseCidrs } from "./serve/headers.js";
import { createProxyServer } from "./serve/proxy-server.js";
import { compileTable, type RouteTable } from "./serve/table.js";
import { TrafficCounters } from "./signals/counters.js";
import { SyncRunner } from "./sync/runner.js";
import { pino } from "pino";
import type { BlockList } from "node:net";

// The composition root: config, the table reference, the push flow, the listeners, shutdown.
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

const VERSION = "0.1.0";
const log = pino({ name: "switchyard-agent", level: config.logLevel, base: { id: config.id } });
const keys = buildKeys(config.prefix);
const engine = createHttpProxyEngine({ upstreamTimeoutMs: config.upstreamTimeoutMs, log });

// The one mutable reference of the serve flow: replaced whole, never mutated.
let table: RouteTable | undefined;
const install = (revision: number, state: Parameters<typeof compileTable>[0]) => {
  const next = compileTable(state, revision);
  table = next;
  // Keep-alive pools of targets the new table no longer names are closed, not leaked.
  engine.retain(next.addresses);
  log.info({ revision, routes: next.routeCount, pools: next.poolCount }, "route table applied");
};

const runner = new SyncRunner(
  keys,
  {
    link: { url: config.redisUrl, pingIntervalMs: config.pingIntervalMs, pingTimeoutMs: config.pingTimeoutMs, commandTimeoutMs: 2000 },
    proof: { id: config.id, version: VERSION, address: `${config.host}:${config.port}`, intervalMs: config.heartbeatMs, ttlMs: config.heartbeatTtlMs },
    retryMs: 2000,
    probes: true,
  },
  install,
  log,
);

// Per-upstream request/error counts for the controller's canary decisions (AGENT_STATS_FLUSH_MS = 1000).
const counters = new TrafficCounters({ url: config.redisUrl, keys, flushMs: 1000, log });
const proxy = createProxyServer({ getTable: () => table, engine, trustedProxies: trusted as BlockList, log, onResult: counters.record });
const admin = createAdminServer({
  ready: () => table !== undefined,
  status: () => {
    const s = runner.status();
    return {
      id: config.id,
      revision: s.revision,
      appliedAt: s.appliedAt === null ? null : new Date(s.appliedAt).toISOString(),
      redis: s.redis,
      lastError: s.lastError,
      routes: table?.routeCount ?? 0,
      pools: table?.poolCount ?? 0,
    };
  },
});

async function listen(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  await once(server, "listening");
}
await listen(admin, config.adminPort, config.adminHost);
await listen(proxy, config.port, config.host);
await runner.start();
counters.start();
log.info({ proxy: proxy.address(), admin: admin.address(), prefix: keys.prefix }, "agent listening");

let stopping: Promise<void> | undefined;
function shutdown(signal: string): Promise<void> {
  stopping ??= (async () => {
    log.info({ signal }, "draining");
    await drain(proxy, config.drainTimeoutMs);
    await counters.stop();
    await runner.stop();
    engine.close();
    await drain(admin, 1000);
    log.info("stopped");
  })().then(() => process.exit(0));
  return stopping;
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
