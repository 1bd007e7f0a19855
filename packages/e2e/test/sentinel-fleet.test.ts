import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { randomPrefix, startSentinelTopology, waitFor, type SentinelTopology } from "@switchyard/testkit";
import { get, startFleet, type Fleet } from "../src/fleet.js";

// Fault mode 8 end to end: a controller and an agent process find Redis through real sentinels
// (REDIS_SENTINELS); after SENTINEL FAILOVER the agent follows the new primary, so a write with
// ?wait=applied is acked by it and its traffic follows the write.
let topo: SentinelTopology;
let fleet: Fleet;

before(async () => {
  topo = await startSentinelTopology(1);
  const env = { REDIS_SENTINELS: topo.sentinelList, REDIS_SENTINEL_NAME: topo.name };
  fleet = await startFleet(topo.servers[0]!, randomPrefix(), ["127.0.0.1"], env, env);
});
after(async () => {
  await fleet?.stop();
  await topo?.stop();
});

test("controller and agent on Sentinel: after SENTINEL FAILOVER a write is applied by the agent and acked (wait=applied complete)", async () => {
  const agent = fleet.agents[0]!;
  assert.equal((await fleet.api("PUT", "/v1/pools/blue", { targets: fleet.apps.blue.map((address) => ({ address })) })).status, 200);
  assert.equal((await fleet.api("PUT", "/v1/pools/green", { targets: fleet.apps.green.map((address) => ({ address })) })).status, 200);
  assert.equal((await fleet.api("PUT", "/v1/routes/s.local?wait=applied", { upstream: "blue" })).body.complete, true);
  await topo.synced();
  const from = await topo.primaryPort();
  const t0 = Date.now();
  await topo.sentinelCommand("FAILOVER");
  await waitFor(async () => (await topo.primaryPort()) !== from, { timeoutMs: 20_000, what: "new primary" });
  let answer: { status: number; body: any } | undefined;
  await waitFor(async () => {
    answer = await fleet.api("PUT", "/v1/routes/s.local?wait=applied&timeout=2000", { upstream: "green" });
    return answer.status === 200 && answer.body.complete === true;
  }, { timeoutMs: 20_000, what: "a write applied by the agent after the failover" });
  const ms = Date.now() - t0;
  console.log(`# fault mode 8 (fleet, SENTINEL FAILOVER): write applied fleet-wide ${ms} ms after the failover`);
  assert.ok(ms < 20_000);
  await waitFor(async () => (await get("127.0.0.1", agent.port, "s.local")).body.includes("green"), { timeoutMs: 5000, what: "traffic on green" });
});
