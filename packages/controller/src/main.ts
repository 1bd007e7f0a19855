import { once } from "node:events";
import { hostname } from "node:os";
import { StoreReader, StoreWriter, buildKeys } from "@switchyard/shared";
import { createApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { createCutoverQueue, createCutoverWorker } from "./cutover/queue.js";
import { CutoverRepo } from "./cutover/repo.js";
import { runCutover } from "./cutover/runner.js";
import { isTerminal } from "./cutover/spec.js";
import { AckWatcher } from "./fleet/acks.js";
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
const reader = new StoreReader(redis, keys);
const writer = new StoreWriter(redis, keys, config.logCap, config.auditCap);
const acks = new AckWatcher(config.redisUrl, redis, keys, log);
const repo = new CutoverRepo(redis, keys);
const queueOpts = { url: config.redisUrl, keys, lockMs: config.cutoverLockMs };
const cutoverQueue = createCutoverQueue(queueOpts);
const workerId = `${hostname()}:${process.pid}`;
const cutoverWorker = createCutoverWorker(
  queueOpts,
  (id) => runCutover(id, { repo, reader, writer, redis, keys, acks, log, workerId, sampleMs: config.cutoverSampleMs }),
  async (id, err) => {
    const rec = await repo.get(id);
    if (rec && !isTerminal(rec.state)) await repo.save({ ...rec, state: "failed", reason: `the cutover job gave up after repeated errors (${err.message}); routes were left as they are` });
  },
  log,
);
const app = createApp({ redis, keys, acks, repo, queue: cutoverQueue.queue, reader, writer, tokens: config.tokens, log });

const server = app.listen(config.port, config.host);
await once(server, "listening");
log.info({ address: server.address(), prefix: keys.prefix, workerId, tokens: config.tokens.map((t) => `${t.name}:${t.scope}`) }, "controller listening");

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  const done = async () => {
    // Running cutovers are not waited for: their job locks lapse and another controller resumes them.
    await cutoverWorker.close();
    await cutoverQueue.close();
    acks.close();
    redis.disconnect();
    process.exit(0);
  };
  server.close(() => void done());
  server.closeIdleConnections();
  // Event streams and fleet waits would hold close() open; give answers in flight 2 s, then cut.
  setTimeout(() => server.closeAllConnections(), 2000).unref();
  setTimeout(() => process.exit(0), 10_000).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
