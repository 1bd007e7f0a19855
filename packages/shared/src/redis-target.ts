import { Redis, type RedisOptions } from "ioredis";
import { RedisUrlEnv, reconnectDelay } from "./env.js";

/**
 * Where Redis is and how to log in to it, parsed once from the environment and shared by every
 * connection a process opens (commands, subscribers, BullMQ). Each package's connection factory
 * (`controller/src/redis.ts`, the agent's) decides per role how a connection behaves; this file
 * decides only where it goes.
 *
 * Today one variant: REDIS_URL, `redis://[user:password@]host:port[/db]` or `rediss://` for TLS.
 * Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_SENTINEL_PASSWORD, with password, db and
 * TLS still from REDIS_URL) and Cluster (REDIS_CLUSTER_NODES) are to be added here: variables in
 * RedisEnv, fields of RedisTarget set by redisTarget(), and a branch in dialRedis(). No role and
 * no caller changes.
 */

/** The environment variables that say where Redis is; spread into each package's zod env schema. */
export const RedisEnv = {
  /** Default `redis://127.0.0.1:6379`. */
  REDIS_URL: RedisUrlEnv,
};

/**
 * Where Redis is. Today a URL (password, db and TLS included); the same shape as the agent's own
 * `RedisTarget` (agent/src/redis.ts), so either can be handed to dialRedis().
 */
export interface RedisTarget {
  readonly url: string;
}

/** Builds the target from the parsed RedisEnv fields. */
export function redisTarget(env: { REDIS_URL: string }): RedisTarget {
  return { url: env.REDIS_URL };
}

/** A target for tests and tools that have a URL in hand. */
export const urlTarget = (url: string): RedisTarget => ({ url });

/** What a log line may say about the target: never the password. */
export function describeTarget(t: RedisTarget): string {
  const u = new URL(t.url);
  return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
}

/**
 * Opens a connection to the target with a role's options. Every connection reconnects with the
 * shared capped, jittered backoff (reconnectDelay) unless the role says otherwise.
 */
export function dialRedis(t: RedisTarget, options: RedisOptions): Redis {
  return new Redis(t.url, { retryStrategy: reconnectDelay, ...options });
}
