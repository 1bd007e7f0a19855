export { createApp, type AppDeps } from "./app.js";
export { loadConfig, ConfigError, type ControllerConfig, type Token } from "./config.js";
export { createRedis } from "./redis.js";
export { createLogger } from "./logger.js";
