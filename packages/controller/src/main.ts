import { once } from "node:events";
import { StoreReader, StoreWriter, buildKeys } from "@switchyard/shared";
import { createApp } from "./app.js";
import { AckWatcher } from "./fleet/acks.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { createRedis } from "./redis.js";

// The composition root: parse config, build dependencies, listen, shut down on signals.
let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`switchyard-controller: ${err.message}\n`);
  process.exit(2);
}

const log = createLogger(config.logLevel, "switchyard-controller");
const redis = createRedis({ url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs }, log);
const keys = buildKeys(config.prefix);
const acks = new AckWatcher(config.redisUrl, redis, keys, log);
const app = createApp({
  redis,
  keys,
  acks,
  reader: new StoreReader(redis, keys),
  writer: new StoreWriter(redis, keys, config.logCap, config.auditCap),
  tokens: config.tokens,
  log,
});

const server = app.listen(config.port, config.host);
await once(server, "listening");
const addr = server.address();
log.info({ address: addr, prefix: keys.prefix, tokens: config.tokens.map((t) => `${t.name}:${t.scope}`) }, "controller listening");

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  server.close(() => {
    acks.close();
    redis.disconnect();
    process.exit(0);
  });
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 10_000).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
