import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { waitFor } from "@switchyard/testkit";
import type { Fleet } from "../src/fleet.js";
import { agentStatus, converge, detected, loadWhileServed, restartAgent, storeDigest } from "../src/faults.js";
import { HOSTS, NEW, check, fleetAt11, lost, moveToGreen, type FaultFleet } from "../src/fault-fleet.js";

// Issue 12's fault suite, lineage modes (1, 2) and the pub/sub kill: real redis-server, controller and agent processes, load
// on loopback. Each mode prints `# fault mode N: F=.. L=.. D=..ms C=..ms` and asserts F = 0, L = 0,
// D <= 3 s, C <= 2 s (src/fault-fleet.ts). One fleet per test: they kill or wipe Redis.

let ff: FaultFleet | undefined;
afterEach(async () => {
  await ff?.stop();
  ff = undefined;
});

test("mode 1: Redis SIGKILLed and restarted empty, then 12 quick writes: agents keep serving, the store is restored from the fleet, nothing is applied on top of another lineage", async () => {
  ff = await fleetAt11();
  const { fleet: f, client, redis } = ff;
  const load = loadWhileServed(f, HOSTS);
  const t0 = Date.now();
  await redis.restart();
  const detection = detected(f.agents, (s) => s.lastError !== null, t0);
  const { refused, lastAt } = await moveToGreen(f, HOSTS, NEW);
  assert.ok(refused > 0, "writes on the lost store were refused until the restore");
  const D = await detection;
  const C = (await converge(f)) - lastAt;
  await load.stop();
  check("1", { F: load.failures.length, L: await lost(f, [...HOSTS, ...NEW], []), D, C }, load.failures);
  assert.ok(load.ok > 0);
});

test("mode 2: FLUSHALL without dropping connections: noticed with no write, restored, and later writes are neither ignored nor applied on top", async () => {
  ff = await fleetAt11();
  const { fleet: f, client, redis } = ff;
  const load = loadWhileServed(f, HOSTS);
  const t0 = Date.now();
  await client.flushall();
  const D = await detected(f.agents, (s) => s.lastError?.includes("uninitialised") === true, t0);
  const healed = Date.now();
  const { lastAt } = await moveToGreen(f, HOSTS.slice(0, 8), NEW);
  const C = (await converge(f)) - Math.max(healed, lastAt);
  await load.stop();
  check("2", { F: load.failures.length, L: await lost(f, [...HOSTS.slice(0, 8), ...NEW], [HOSTS[8] as string]), D, C }, load.failures);
});

test("pub/sub kill: CLIENT KILL TYPE pubsub, then writes: every agent resubscribes, catches up and converges", async () => {
  ff = await fleetAt11();
  const { fleet: f, client, redis } = ff;
  const load = loadWhileServed(f, HOSTS);
  const t0 = Date.now();
  await client.client("KILL", "TYPE", "pubsub");
  const { lastAt } = await moveToGreen(f, HOSTS.slice(0, 3), []);
  // D: the first write after the kill reached every agent (a resubscribe and catch-up, or the watchdog).
  const D = await detected(f.agents, (s) => s.revision >= 12, t0);
  const C = (await converge(f)) - lastAt;
  await load.stop();
  check("pubsub-kill", { F: load.failures.length, L: await lost(f, HOSTS.slice(0, 3), HOSTS.slice(3)), D, C }, load.failures);
});
