import { once } from "node:events";
import { hostname } from "node:os";
import { StoreHistory, StoreReader, buildKeys, describeTarget } from "@switchyard/shared";
import { createApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { createCutoverQueue, createCutoverWorker } from "./cutover/queue.js";
import { CutoverRepo } from "./cutover/repo.js";
import { giveUpCutover, runCutover } from "./cutover/runner.js";
import { AckWatcher } from "./fleet/acks.js";
import { ApplyTimer } from "./fleet/apply-timer.js";
import { createLogger } from "./logger.js";
import { ControllerMetrics, MeteredWriter } from "./metrics.js";
import { EventHub } from "./events/hub.js";
import { ackSubscriberConnection, commandConnection, eventsSubscriberConnection, queueConnection, workerConnection } from "./redis.js";

// The composition root: parse config, open the Redis connections, build dependencies, listen, stop on signals.
let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`switchyard-controller: ${err.message}\n`);
  process.exit(2);
}

const log = createLogger(config.logLevel, "switchyard-controller");
const keys = buildKeys(config.prefix);
const settings = { target: config.redis, commandTimeoutMs: config.redisCommandTimeoutMs };
const redis = commandConnection(settings, log);
const connections = [redis, ackSubscriberConnection(settings, log), queueConnection(settings, log), workerConnection(settings, log), eventsSubscriberConnection(settings, log)] as const;
const [, ackSub, queueConn, workerConn, eventsSub] = connections;
const reader = new StoreReader(redis, keys);
const history = new StoreHistory(redis, keys, reader);
const repo = new CutoverRepo(redis, keys);
const metrics = new ControllerMetrics({ reader, redis, keys, repo, log });
const writer = new MeteredWriter(redis, keys, config.logCap, config.auditCap, metrics);
const acks = new AckWatcher(ackSub, redis, keys, log, new ApplyTimer((s) => metrics.applySeconds.observe(s)));
const queueOpts = { keys, lockMs: config.cutoverLockMs };
const queue = createCutoverQueue(queueConn, queueOpts);
const workerId = `${hostname()}:${process.pid}`;
const runnerDeps = { repo, reader, writer, redis, keys, acks, log, workerId, sampleMs: config.cutoverSampleMs };
const worker = createCutoverWorker(workerConn, queueOpts, (id) => runCutover(id, runnerDeps), giveUpCutover(repo), log);
const events = new EventHub(eventsSub, redis, keys, repo, log);
const app = createApp({ redis, keys, acks, repo, queue, reader, writer, history, metrics, events, tokens: config.tokens, log });

const server = app.listen(config.port, config.host);
await once(server, "listening");
log.info({ address: server.address(), redis: describeTarget(config.redis), prefix: keys.prefix, workerId, tokens: config.tokens.map((t) => `${t.name}:${t.scope}`) }, "controller listening");

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  const done = async () => {
    // Running cutovers are not waited for: their job locks lapse and another controller resumes them.
    await worker.close();
    await queue.close().catch(() => undefined);
    acks.close();
    for (const c of connections) c.disconnect();
    process.exit(0);
  };
  // Event streams never end by themselves: end them first, so close() is not held up by them.
  events.close();
  server.close(() => void done());
  server.closeIdleConnections();
  // Event streams and fleet waits would hold close() open; give answers in flight 2 s, then cut.
  setTimeout(() => server.closeAllConnections(), 2000).unref();
  setTimeout(() => process.exit(0), 10_000).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
