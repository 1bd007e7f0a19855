import { randomBytes } from "node:crypto";

export { startRedis, freePort, type RedisHandle } from "./redis-server.js";
export { waitFor, type WaitOptions } from "./wait.js";

/** A fresh key prefix per test, so tests sharing one redis-server never see each other's keys. */
export function randomPrefix(label = "t"): string {
  return `${label}-${randomBytes(6).toString("hex")}`;
}
