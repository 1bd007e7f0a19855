import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { startFleet, type Fleet } from "./fleet.js";
import { agentStatus, converge, diverged, report, stateDirs, storeDigest, writeUntilAccepted, type Figures } from "./faults.js";

/** The fault suite's fleet (issue 12's setup): its own Redis, two agents with disk state, a controller. */
export interface FaultFleet {
  redis: RedisHandle;
  /** A plain client for the faults themselves (FLUSHALL, HSET, CLIENT KILL, SAVE). */
  client: Redis;
  fleet: Fleet;
  stop(): Promise<void>;
}

export const HOSTS = Array.from({ length: 9 }, (_, i) => `h${i}.local`);
export const NEW = ["n1.local", "n2.local", "n3.local"];

/** A fleet at revision 11: pools blue and green, 9 hosts on blue. */
export async function fleetAt11(): Promise<FaultFleet> {
  const redis = await startRedis();
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  client.on("error", () => undefined); // Redis is killed on purpose; commands wait for the reconnect
  const stop = async () => {
    client.disconnect();
    await fleet?.stop();
    await redis.stop();
  };
  let fleet: Fleet | undefined;
  try {
    fleet = await startFleet(redis, randomPrefix("faults"), ["127.0.0.2", "127.0.0.3"], await stateDirs(2), { STORE_GATHER_MS: "500" });
    const f = fleet;
    await writeUntilAccepted(f, "PUT", "/v1/pools/blue", { targets: f.apps.blue.map((address) => ({ address })) });
    await writeUntilAccepted(f, "PUT", "/v1/pools/green", { targets: f.apps.green.map((address) => ({ address })) });
    for (const h of HOSTS) await writeUntilAccepted(f, "PUT", `/v1/routes/${h}`, { upstream: "blue" });
    assert.equal((await storeDigest(f))?.revision, 11);
    await converge(f);
    // Every agent has written revision 11 to its state dir before any fault.
    await waitFor(async () => (await Promise.all(f.agents.map(agentStatus))).every((s) => s?.disk?.revision === 11), { timeoutMs: 10_000, what: "tables on disk" });
    return { redis, client, fleet: f, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Writes that must all be in GET /v1/state afterwards: hosts moved to green, and `extra` new hosts. */
export async function moveToGreen(f: Fleet, hosts: string[], extra: string[]): Promise<{ refused: number; lastAt: number }> {
  let refused = 0;
  for (const h of [...hosts, ...extra]) refused += (await writeUntilAccepted(f, "PUT", `/v1/routes/${h}`, { upstream: "green" })).refused;
  return { refused, lastAt: Date.now() };
}

/** L: agents that diverge from the store, plus hosts not routed as written. */
export async function lost(f: Fleet, green: string[], blue: string[]): Promise<number> {
  const state = (await f.api("GET", "/v1/state")).body as { routes: Record<string, { upstream: string }> };
  const missing = green.filter((h) => state.routes[h]?.upstream !== "green").length + blue.filter((h) => state.routes[h]?.upstream !== "blue").length;
  return missing + (await diverged(f)).length;
}

/** Prints the mode's figures (`# fault mode N: F=.. L=.. D=..ms C=..ms`) and asserts issue 12's bounds. */
export function check(mode: string, fig: Figures, failures: string[], maxC = 2000): void {
  console.log(report(mode, fig));
  assert.equal(fig.F, 0, `F: failed requests while a table is served: ${failures.slice(0, 5).join("; ")}`);
  assert.equal(fig.L, 0, "L: lost or diverged updates");
  assert.ok(fig.D <= 3000, `D: detection ${fig.D} ms`);
  assert.ok(fig.C <= maxC, `C: convergence ${fig.C} ms`);
}
