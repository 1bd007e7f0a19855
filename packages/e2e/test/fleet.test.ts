import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { startFleet, type Fleet } from "../src/fleet.js";
import { pct, staleAfterAck, startLoad } from "../src/load.js";

let redis: RedisHandle;
let fleet: Fleet;

before(async () => {
  redis = await startRedis();
  fleet = await startFleet(redis, randomPrefix("e2e"), ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
  const pool = (addrs: string[]) => ({ targets: addrs.map((address) => ({ address })), keepalive: 16 });
  assert.equal((await fleet.api("PUT", "/v1/pools/blue", pool(fleet.apps.blue))).status, 200);
  assert.equal((await fleet.api("PUT", "/v1/pools/green", pool(fleet.apps.green))).status, 200);
  const first = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: "blue" });
  assert.equal(first.body.complete, true, first.text);
});
after(async () => {
  await fleet?.stop();
  await redis.stop();
});

test("50 alternating switches under load through 3 agents: no failed request, no old colour after an ack", async () => {
  const load = startLoad(fleet.agents, "demo.local", { maxRequests: 40_000, maxMs: 90_000 });
  const { samples, errors } = load;

  const flips: { revision: number; color: string; writeAt: number; acks: Map<string, number> }[] = [];
  try {
    await waitFor(() => samples.length > 100, { what: "load running" });
    for (let k = 0; k < 50; k++) {
      const color = k % 2 === 0 ? "green" : "blue";
      const writeAt = Date.now();
      const res = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: color });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.complete, true, `switch ${k}: ${res.text}`);
      assert.equal(res.body.applied.length, 3);
      flips.push({ revision: res.body.revision, color, writeAt, acks: new Map(res.body.applied.map((a: { id: string; appliedAt: string }) => [a.id, Date.parse(a.appliedAt)])) });
      // Let some traffic see each colour before the next flip.
      const seen = samples.length;
      await waitFor(() => samples.length >= seen + 30, { what: "traffic between flips" });
    }
  } finally {
    await load.stop();
  }

  assert.deepEqual(errors, [], "no request failed at the transport level");
  const failed = samples.filter((s) => s.status !== 200);
  assert.equal(failed.length, 0, `failed: ${JSON.stringify(failed.slice(0, 5))}`);

  // A request that started after agent i acked flip k, and before flip k+1 was written, must see flip k's colour.
  for (const f of flips) assert.equal(f.acks.size, fleet.agents.length);
  const { checked, stale } = staleAfterAck(flips, fleet.agents.map((a) => a.id), samples);
  assert.ok(checked > 500, `only ${checked} requests fell after an ack`);
  assert.equal(stale, 0, `${stale} of ${checked} requests after an ack saw the old colour`);

  const flipMs = flips.map((f) => Math.max(...f.acks.values()) - f.writeAt);
  console.log(
    `# fleet flip time (write -> last ack, 3 agents, 50 switches, ${samples.length} requests under load): ` +
      `p50 ${pct(flipMs, 50)} ms, p99 ${pct(flipMs, 99)} ms, max ${Math.max(...flipMs)} ms`,
  );
});
