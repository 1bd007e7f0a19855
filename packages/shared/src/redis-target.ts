import { Redis, type RedisOptions } from "ioredis";
import { z } from "zod";
import { RedisUrlEnv, reconnectDelay } from "./env.js";

/**
 * Where Redis is and how to log in to it, parsed once from the environment and shared by every
 * connection a process opens (commands, subscribers, BullMQ). Each package's connection factory
 * (`controller/src/redis.ts`, the agent's) decides per role how a connection behaves; this file
 * decides only where it goes.
 *
 * Two variants. REDIS_URL alone: `redis://[user:password@]host:port[/db]` or `rediss://` for TLS.
 * With REDIS_SENTINELS (`host:port,...`): the primary of REDIS_SENTINEL_NAME as the sentinels name
 * it, re-asked on every reconnect, so a failover is followed; user, password, db and TLS still come
 * from REDIS_URL (its host is then unused), the sentinels' own password from
 * REDIS_SENTINEL_PASSWORD. Cluster (REDIS_CLUSTER_NODES) is not built.
 */

/** The environment variables that say where Redis is; spread into each package's zod env schema. */
export const RedisEnv = {
  /** Default `redis://127.0.0.1:6379`. */
  REDIS_URL: RedisUrlEnv,
  /** Default none (no Sentinel): comma-separated `host:port` of the sentinels. */
  REDIS_SENTINELS: z.string().optional().superRefine((raw, ctx) => {
    if (raw === undefined) return;
    for (const entry of raw.split(",")) if (parseHostPort(entry.trim()) === undefined) ctx.addIssue({ code: "custom", message: `'${entry.trim()}' is not host:port` });
  }),
  /** Default `mymaster`: the name the sentinels monitor the primary under. */
  REDIS_SENTINEL_NAME: z.string().min(1).default("mymaster"),
  /** Default none: the sentinels' own password (requirepass in sentinel.conf). */
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
};

function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(s);
  const port = Number(m?.[2]);
  return m && port >= 1 && port <= 65535 ? { host: (m[1] as string).replace(/^\[|\]$/g, ""), port } : undefined;
}

/**
 * Where Redis is. Today a URL (password, db and TLS included); the same shape as the agent's own
 * `RedisTarget` (agent/src/redis.ts), so either can be handed to dialRedis().
 */
export interface RedisTarget {
  readonly url: string;
  /** Set: the primary is found through these sentinels (the URL's host is unused). */
  readonly sentinel?: { readonly nodes: readonly { host: string; port: number }[]; readonly name: string; readonly password?: string };
}

/** Builds the target from the parsed RedisEnv fields. */
export function redisTarget(env: { REDIS_URL: string; REDIS_SENTINELS?: string | undefined; REDIS_SENTINEL_NAME?: string; REDIS_SENTINEL_PASSWORD?: string | undefined }): RedisTarget {
  if (!env.REDIS_SENTINELS) return { url: env.REDIS_URL };
  const nodes = env.REDIS_SENTINELS.split(",").map((e) => parseHostPort(e.trim())).filter((n) => n !== undefined);
  const name = env.REDIS_SENTINEL_NAME ?? "mymaster";
  return { url: env.REDIS_URL, sentinel: { nodes, name, ...(env.REDIS_SENTINEL_PASSWORD ? { password: env.REDIS_SENTINEL_PASSWORD } : {}) } };
}

/** A target for tests and tools that have a URL in hand. */
export const urlTarget = (url: string): RedisTarget => ({ url });

/** What a log line may say about the target: never the password. */
export function describeTarget(t: RedisTarget): string {
  if (t.sentinel) return `sentinel ${t.sentinel.name} via ${t.sentinel.nodes.map((n) => `${n.host}:${n.port}`).join(",")}`;
  const u = new URL(t.url);
  return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
}

/**
 * Opens a connection to the target with a role's options. Every connection reconnects with the
 * shared capped, jittered backoff (reconnectDelay) unless the role says otherwise.
 */
export function dialRedis(t: RedisTarget, options: RedisOptions): Redis {
  if (!t.sentinel) return new Redis(t.url, { retryStrategy: reconnectDelay, ...options });
  const u = new URL(t.url);
  const db = Number(u.pathname.slice(1) || "0");
  return new Redis({
    sentinels: t.sentinel.nodes.map((n) => ({ ...n })),
    name: t.sentinel.name,
    ...(t.sentinel.password ? { sentinelPassword: t.sentinel.password } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db,
    ...(u.protocol === "rediss:" ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    // A primary demoted by a failover answers READONLY: reconnect, which asks the sentinels again.
    // Nothing is resent (1, not 2): a write's fate is the caller's to report.
    reconnectOnError: (err) => (/^READONLY/.test(err.message) ? 1 : false),
    // A primary that hangs (SIGSTOP) keeps its sockets open, so nothing would make this connection
    // leave it: the failover detector listens to the sentinels' +switch-master and reconnects.
    failoverDetector: true,
    // Sentinels are re-asked with the same backoff as any reconnect.
    sentinelRetryStrategy: reconnectDelay,
    retryStrategy: reconnectDelay,
    ...options,
  });
}
