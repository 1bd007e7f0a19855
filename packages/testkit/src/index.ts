import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export { startRedis, freePort, type RedisHandle } from "./redis-server.js";
export { waitFor, type WaitOptions } from "./wait.js";
export { seededRandom, testSeed, type Rng } from "./random.js";

/** A fresh key prefix per test, so tests sharing one redis-server never see each other's keys. */
export function randomPrefix(label = "t"): string {
  return `${label}-${randomBytes(6).toString("hex")}`;
}

/** Deterministic [0, 1) source (mulberry32): distribution tests never flake, a fuzz failure names a reproducible case. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A connection that is ready before it is returned. SUBSCRIBE on a connection that is still
 * connecting races ioredis's ready check (INFO is refused in subscriber mode) and the link drops,
 * silently losing the messages a test waits for.
 */
export async function readyClient(url: string): Promise<Redis> {
  const client = new Redis(url, { maxRetriesPerRequest: null });
  if (client.status !== "ready") await new Promise((resolve) => client.once("ready", resolve));
  return client;
}
