import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { Redis } from "ioredis";
import { randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { startFleet, type Fleet } from "../src/fleet.js";
import {
  agentStatus, converge, detected, diverged, loadWhileServed, report, restartAgent, stateDirs, storeDigest, writeUntilAccepted, type Figures,
} from "../src/faults.js";

// Issue 12's fault suite, the lineage half: real redis-server, controller and agent processes, load
// on loopback. Each mode prints `# fault mode N: F=.. L=.. D=..ms C=..ms` and asserts F = 0, L = 0,
// D <= 3 s, C <= 2 s. One fleet per test: several of them kill or wipe Redis.

const HOSTS = Array.from({ length: 9 }, (_, i) => `h${i}.local`);
let redis: RedisHandle | undefined;
let fleet: Fleet | undefined;
let client: Redis | undefined;

afterEach(async () => {
  client?.disconnect();
  await fleet?.stop();
  await redis?.stop();
  fleet = undefined;
  redis = undefined;
});

/** Two agents with disk state, a fleet at revision 11: 9 hosts on blue (the setup). */
async function fleetAt11(): Promise<Fleet> {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  const f = await startFleet(redis, randomPrefix("faults"), ["127.0.0.2", "127.0.0.3"], await stateDirs(2), { STORE_GATHER_MS: "1000" });
  fleet = f;
  await writeUntilAccepted(f, "PUT", "/v1/pools/blue", { targets: f.apps.blue.map((address) => ({ address })) });
  await writeUntilAccepted(f, "PUT", "/v1/pools/green", { targets: f.apps.green.map((address) => ({ address })) });
  for (const h of HOSTS) await writeUntilAccepted(f, "PUT", `/v1/routes/${h}`, { upstream: "blue" });
  assert.equal((await storeDigest(f))?.revision, 11);
  await converge(f);
  return f;
}

/** Writes that must all be in GET /v1/state afterwards: hosts moved to green, and `extra` new hosts. */
async function moveToGreen(f: Fleet, hosts: string[], extra: string[]): Promise<{ refused: number; lastAt: number }> {
  let refused = 0;
  for (const h of [...hosts, ...extra]) refused += (await writeUntilAccepted(f, "PUT", `/v1/routes/${h}`, { upstream: "green" })).refused;
  return { refused, lastAt: Date.now() };
}

/** L: agents that diverge from the store, plus writes of `hosts` not in the store as written. */
async function lost(f: Fleet, green: string[], blue: string[]): Promise<number> {
  const state = (await f.api("GET", "/v1/state")).body as { routes: Record<string, { upstream: string }> };
  const missing = green.filter((h) => state.routes[h]?.upstream !== "green").length + blue.filter((h) => state.routes[h]?.upstream !== "blue").length;
  return missing + (await diverged(f)).length;
}

function check(mode: string, fig: Figures): void {
  console.log(report(mode, fig));
  assert.equal(fig.F, 0, "F: failed requests while a table is served");
  assert.equal(fig.L, 0, "L: lost or diverged updates");
  assert.ok(fig.D <= 3000, `D: detection ${fig.D} ms`);
  assert.ok(fig.C <= 2000, `C: convergence ${fig.C} ms`);
}

const NEW = ["n1.local", "n2.local", "n3.local"];

test("mode 1: Redis SIGKILLed and restarted empty, then 12 quick writes: agents keep serving, the store is restored from the fleet, nothing is applied on top of another lineage", async () => {
  const f = await fleetAt11();
  const load = loadWhileServed(f, HOSTS);
  const t0 = Date.now();
  await redis?.restart();
  const detection = detected(f.agents, (s) => s.lastError !== null, t0);
  const { refused, lastAt } = await moveToGreen(f, HOSTS, NEW);
  assert.ok(refused > 0, "writes on the lost store were refused until the restore");
  const D = await detection;
  const C = (await converge(f)) - lastAt;
  await load.stop();
  check("1", { F: load.failures.length, L: await lost(f, [...HOSTS, ...NEW], []), D, C });
  assert.ok(load.ok > 0);
});

test("mode 2: FLUSHALL without dropping connections: noticed with no write, restored, and later writes are neither ignored nor applied on top", async () => {
  const f = await fleetAt11();
  const load = loadWhileServed(f, HOSTS);
  const t0 = Date.now();
  await client?.flushall();
  const D = await detected(f.agents, (s) => s.lastError?.includes("uninitialised") === true, t0);
  const healed = Date.now();
  const { lastAt } = await moveToGreen(f, HOSTS.slice(0, 8), NEW);
  const C = (await converge(f)) - Math.max(healed, lastAt);
  await load.stop();
  check("2", { F: load.failures.length, L: await lost(f, [...HOSTS.slice(0, 8), ...NEW], [HOSTS[8] as string]), D, C });
});

test("mode 3: a bad entry in Redis: a restarted agent serves its disk table, says it cannot load, and converges once the entry is fixed", async () => {
  const f = await fleetAt11();
  const load = loadWhileServed(f, HOSTS);
  const routes = `${f.agents[0]?.env.SWITCHYARD_PREFIX}`;
  const prefix = routes.includes("{") ? routes : `{${routes}}`;
  await client?.hset(`${prefix}:routes`, "bad.local", "{not json");
  const t0 = Date.now();
  const a = await restartAgent(f, 0);
  await waitFor(async () => (await agentStatus(a)) !== undefined, { timeoutMs: 15_000, what: "restarted agent up" });
  const D = await detected([a], (s) => s.source === "disk" && s.lastError !== null && /snapshot not applied/.test(s.lastError), t0);
  const s = await agentStatus(a);
  assert.equal(s?.revision, 11);
  assert.notEqual(s?.source, "redis", "never claims to be in sync with Redis");
  // Hold the bad entry while load runs through the restarted agent.
  await new Promise((r) => setTimeout(r, 1500));
  const healed = Date.now();
  await client?.hdel(`${prefix}:routes`, "bad.local");
  const C = (await converge(f)) - healed;
  await load.stop();
  check("3", { F: load.failures.length, L: await lost(f, [], HOSTS), D, C });
});

test("mode 5: an agent restarted while Redis is down serves its table from disk; Redis back empty, the fleet's table is restored", async () => {
  const f = await fleetAt11();
  const load = loadWhileServed(f, HOSTS);
  await redis?.kill();
  const t0 = Date.now();
  const a = await restartAgent(f, 0);
  await waitFor(async () => (await agentStatus(a))?.source === "disk", { timeoutMs: 15_000, what: "disk table served" });
  const D = await detected([a], (s) => s.redis === "disconnected" && s.lastError !== null, t0);
  await new Promise((r) => setTimeout(r, 1500));
  const healed = Date.now();
  await redis?.start();
  await waitFor(async () => (await storeDigest(f))?.revision === 11, { timeoutMs: 10_000, intervalMs: 50, what: "store restored from the fleet" });
  const C = (await converge(f)) - healed;
  await load.stop();
  check("5", { F: load.failures.length, L: await lost(f, [], HOSTS), D, C });
});

test("restart with data: same lineage and revision after the restart, agents reconnect without a reload and keep syncing", async () => {
  const f = await fleetAt11();
  const before = await agentStatus(f.agents[0] as NonNullable<Fleet["agents"][0]>);
  const load = loadWhileServed(f, HOSTS);
  await client?.save();
  const t0 = Date.now();
  await redis?.kill();
  const D = await detected(f.agents, (s) => s.redis === "disconnected", t0);
  const healed = Date.now();
  await redis?.start();
  const C = (await converge(f)) - healed;
  const after = await agentStatus(f.agents[0] as NonNullable<Fleet["agents"][0]>);
  assert.deepEqual([after?.epoch, after?.revision], [before?.epoch, before?.revision]);
  const { lastAt } = await moveToGreen(f, ["h0.local"], []);
  const C2 = (await converge(f)) - lastAt;
  await load.stop();
  check("restart-with-data", { F: load.failures.length, L: await lost(f, ["h0.local"], HOSTS.slice(1)), D, C: Math.max(C, C2) });
});

test("pub/sub kill: CLIENT KILL TYPE pubsub, then writes: every agent resubscribes, catches up and converges", async () => {
  const f = await fleetAt11();
  const load = loadWhileServed(f, HOSTS);
  const t0 = Date.now();
  await client?.client("KILL", "TYPE", "pubsub");
  const { lastAt } = await moveToGreen(f, HOSTS.slice(0, 3), []);
  // D: the first write after the kill reached every agent (a resubscribe and catch-up, or the watchdog).
  const D = await detected(f.agents, (s) => s.revision >= 12, t0);
  const C = (await converge(f)) - lastAt;
  await load.stop();
  check("pubsub-kill", { F: load.failures.length, L: await lost(f, HOSTS.slice(0, 3), HOSTS.slice(3)), D, C });
});
