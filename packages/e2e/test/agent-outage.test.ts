import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { get, startFleet, type Fleet } from "../src/fleet.js";

let redis: RedisHandle;
let fleet: Fleet;

before(async () => {
  redis = await startRedis();
  fleet = await startFleet(redis, randomPrefix("outage"), ["127.0.0.5"]);
  await fleet.api("PUT", "/v1/pools/blue", { targets: fleet.apps.blue.map((address) => ({ address })) });
  const r = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied", { upstream: "blue" });
  assert.equal(r.body.complete, true, r.text);
});
after(async () => {
  redis.resume();
  await fleet?.stop();
  await redis.stop();
});

test("an agent process keeps serving through a 5 s Redis SIGSTOP, reports it within 3 s, and resyncs after SIGCONT", async () => {
  const [a] = fleet.agents;
  assert.ok(a);
  const status = async () => (await (await fetch(`http://127.0.0.1:${a.adminPort}/status`)).json()) as { redis: string; revision: number };
  const stoppedAt = Date.now();
  redis.pause();
  let served = 0;
  try {
    await waitFor(async () => (await status()).redis === "disconnected", { timeoutMs: 4000, what: "disconnect reported" });
    const detected = Date.now() - stoppedAt;
    assert.ok(detected <= 3000, `reported after ${detected} ms`);
    console.log(`# agent process reported a SIGSTOPped Redis after ${detected} ms`);
    // Keep requesting until the outage has lasted 5 s: every request is served from the last table.
    while (Date.now() - stoppedAt < 5000 && served < 5000) {
      const r = await get(a.host, a.port, "demo.local");
      assert.equal(r.status, 200);
      assert.match(r.body, /^blue-/);
      served++;
    }
  } finally {
    redis.resume();
  }
  assert.ok(served > 10, `served ${served}`);
  await waitFor(async () => (await status()).redis === "connected", { timeoutMs: 10_000, what: "reconnected" });
  await fleet.api("PUT", "/v1/pools/green", { targets: fleet.apps.green.map((address) => ({ address })) });
  const flip = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: "green" });
  assert.equal(flip.body.complete, true, flip.text);
  assert.match((await get(a.host, a.port, "demo.local")).body, /^green-/);
});
