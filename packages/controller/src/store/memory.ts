import type { Redis } from "ioredis";
import { redisFailure } from "@switchyard/shared";

/**
 * Redis's memory settings and use, from `INFO memory` (readable without CONFIG, which managed
 * Redis services often rename or forbid).
 */
export interface MemoryInfo {
  usedBytes: number;
  /** 0: no limit. */
  maxBytes: number;
  policy: string;
  /** Memory Redis does not count against maxmemory (replica output and AOF buffers). */
  notCountedBytes: number;
}

export async function memoryInfo(redis: Redis): Promise<MemoryInfo> {
  const text = await redis.info("memory");
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(text)?.[1]?.trim() ?? "";
  return {
    usedBytes: Number(field("used_memory")) || 0,
    maxBytes: Number(field("maxmemory")) || 0,
    policy: field("maxmemory_policy"),
    notCountedBytes: Number(field("mem_not_counted_for_evict")) || 0,
  };
}

/**
 * Why this Redis must not hold the fleet's state, or null. Any policy but noeviction lets Redis
 * delete keys when memory runs out: a route, a pool or the change log would vanish silently and
 * agents would apply the loss as a change. With noeviction Redis refuses writes instead, which the
 * controller answers 503 store_full and reports on /readyz.
 */
export function evictionProblem(m: MemoryInfo): string | null {
  if (m.policy === "" || m.policy === "noeviction") return null;
  return `Redis's maxmemory-policy is '${m.policy}': when memory runs out Redis would delete Switchyard's keys (routes, pools, the change log) and agents would apply the loss. Set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction); a full Redis then refuses writes, answered 503 store_full`;
}

/** True when Redis refuses writes for lack of memory now: what it counts is over maxmemory (Redis's own OOM test). */
export const isFull = (m: MemoryInfo): boolean => m.maxBytes > 0 && m.usedBytes - m.notCountedBytes > m.maxBytes;

/**
 * The start-up check main.ts runs before listening: the eviction problem, or null. A Redis that is
 * down or forbids INFO is no reason not to start (readiness reports the first; the second leaves
 * the policy unknown), so only an answer that shows a wrong policy refuses.
 */
export async function startupEvictionProblem(redis: Redis, waitMs = 5000): Promise<string | null> {
  // The command connection queues nothing while connecting: wait (bounded) for it to be ready.
  if (redis.status !== "ready") {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
      redis.once("ready", () => resolve());
    });
    clearTimeout(timer);
  }
  try {
    return evictionProblem(await memoryInfo(redis));
  } catch (err) {
    if (redisFailure(err)) return null;
    throw err;
  }
}
