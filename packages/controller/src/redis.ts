import { Redis } from "ioredis";
import type { Logger } from "pino";
import { reconnectDelay } from "@switchyard/shared";

export interface RedisOptions {
  url: string;
  commandTimeoutMs: number;
}

/**
 * The controller's command connection. Requests must fail fast rather than hang:
 * - no offline queue: while disconnected a command fails at once (503) instead of waiting;
 * - commandTimeout: a hung server (SIGSTOP keeps the socket open) fails the command in time;
 * - reconnect with capped exponential backoff and jitter, so a fleet of controllers does not
 *   hammer a recovering Redis in lockstep.
 */
export function createRedis({ url, commandTimeoutMs }: RedisOptions, log: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    maxRetriesPerRequest: 1,
    keepAlive: 1000,
    retryStrategy: reconnectDelay,
  });
  let down = false;
  redis.on("error", (err) => {
    if (!down) log.warn({ err: err.message }, "redis connection error");
    down = true;
  });
  redis.on("ready", () => {
    if (down) log.info("redis connection restored");
    down = false;
  });
  return redis;
}
