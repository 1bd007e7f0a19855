export { createApp, type AppDeps } from "./app.js";
export { loadConfig, ConfigError, type ControllerConfig, type Token } from "./config.js";
export { commandConnection, ackSubscriberConnection, queueConnection, workerConnection, type RedisSettings } from "./redis.js";
export { AckWatcher } from "./fleet/acks.js";
export { CutoverRepo } from "./cutover/repo.js";
export { createCutoverQueue, type CutoverJob } from "./cutover/queue.js";
export { createLogger } from "./logger.js";
export { ControllerMetrics, MeteredWriter } from "./metrics.js";
export { ApplyTimer } from "./fleet/apply-timer.js";
