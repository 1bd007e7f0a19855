import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export { startRedis, freePort, type RedisHandle } from "./redis-server.js";
export { waitFor, type WaitOptions } from "./wait.js";
export { startSentinelTopology, type SentinelTopology } from "./topology.js";
export { seeded, seededRandom, testSeed, type Rng } from "./random.js";

/** A fresh key prefix per test, so tests sharing one redis-server never see each other's keys. */
export function randomPrefix(label = "t"): string {
  return `${label}-${randomBytes(6).toString("hex")}`;
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
