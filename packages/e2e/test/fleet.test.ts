import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { startFleet, type Fleet } from "../src/fleet.js";
import { checkRevisions, pct, startLoad, type Routing } from "../src/load.js";

let redis: RedisHandle;
let fleet: Fleet;
/** The revision that first routed demo.local (to blue). */
let initial = 0;

before(async () => {
  redis = await startRedis();
  fleet = await startFleet(redis, randomPrefix("e2e"), ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
  const pool = (addrs: string[]) => ({ targets: addrs.map((address) => ({ address })), keepalive: 16 });
  assert.equal((await fleet.api("PUT", "/v1/pools/blue", pool(fleet.apps.blue))).status, 200);
  assert.equal((await fleet.api("PUT", "/v1/pools/green", pool(fleet.apps.green))).status, 200);
  const first = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: "blue" });
  assert.equal(first.body.complete, true, first.text);
  initial = first.body.revision;
});
after(async () => {
  await fleet?.stop();
  await redis.stop();
});

test("50 alternating switches under load through 3 agents: no failed request, and every response routed by a revision no older than its agent's ack, in that revision's colour", async () => {
  const load = startLoad(fleet.agents, "demo.local", { maxRequests: 40_000, maxMs: 90_000 });
  const { samples, errors } = load;
  const index = new Map(fleet.agents.map((a, i) => [a.id, i]));

  const routings: Routing[] = [{ revision: initial, color: "blue" }];
  const flips: { writeAt: number; acks: number[] }[] = [];
  try {
    await waitFor(() => samples.length > 100, { what: "load running" });
    for (let k = 0; k < 50; k++) {
      const color = k % 2 === 0 ? "green" : "blue";
      const writeAt = Date.now();
      const res = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: color });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.complete, true, `switch ${k}: ${res.text}`);
      assert.equal(res.body.applied.length, 3);
      const revision = res.body.revision as number;
      routings.push({ revision, color });
      // Every agent has acked it: any request sent from now on must be routed by it or a newer one.
      for (const a of res.body.applied as { id: string }[]) load.acked(index.get(a.id) as number, revision);
      flips.push({ writeAt, acks: (res.body.applied as { appliedAt: string }[]).map((a) => Date.parse(a.appliedAt)) });
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

  const check = checkRevisions(samples, routings);
  assert.deepEqual(check.unstamped.slice(0, 5), [], "every response names the revision that routed it");
  const afterAnAck = samples.filter((s) => s.floor > initial).length;
  assert.ok(afterAnAck > 500, `only ${afterAnAck} requests were sent after an ack they had to honour`);
  assert.deepEqual(check.stale.slice(0, 5), [], `${check.stale.length} of ${check.checked} responses were routed by a revision older than their agent's ack`);
  assert.deepEqual(check.wrongColor.slice(0, 5), [], `${check.wrongColor.length} of ${check.checked} responses disagree with their own revision's route`);

  const flipMs = flips.map((f) => Math.max(...f.acks) - f.writeAt);
  console.log(
    `# fleet flip time (write -> last ack, 3 agents, 50 switches, ${samples.length} requests under load): ` +
      `p50 ${pct(flipMs, 50)} ms, p99 ${pct(flipMs, 99)} ms, max ${Math.max(...flipMs)} ms; ${check.checked} responses checked by revision`,
  );
});
