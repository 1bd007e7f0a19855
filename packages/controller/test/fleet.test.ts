import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { Redis } from "ioredis";
import request from "supertest";
import type { Keys } from "@switchyard/shared";
import { startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { READ, auth, makeFixture, readyRedis, unchanged, type Fixture } from "./fixture.js";
import { fakeAgent as fake, heartbeat as hb } from "./fleet-helpers.js";

let server: RedisHandle;
let fx: Fixture;
let redis: Redis;
const fixtures: Fixture[] = [];

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
after(async () => {
  for (const f of fixtures) await f.close();
  redis.disconnect();
  await server.stop();
});
beforeEach(async () => {
  fx = makeFixture(server);
  fixtures.push(fx);
  await readyRedis(fx.redis);
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
});

const heartbeat = (keys: Keys, id: string, revision: number, ttlMs?: number) => hb(redis, keys, id, revision, ttlMs);
const fakeAgent = (keys: Keys, id: string, delayMs: number) => fake(server.url, keys, id, delayMs);

test("GET /v1/agents lists live agents with applied revision, lag and last-seen time", async () => {
  await heartbeat(fx.keys, "edge-1", 1);
  await heartbeat(fx.keys, "edge-2", 0);
  await heartbeat(fx.keys, "gone", 1, 1);
  await waitFor(async () => (await redis.exists(fx.keys.agent("gone"))) === 0, { what: "expiry" });
  const res = await request(fx.app).get("/v1/agents").set(auth(READ)).expect(200);
  assert.deepEqual(res.body.map((a: { id: string; revision: number; lag: number }) => [a.id, a.revision, a.lag]), [["edge-1", 1, 0], ["edge-2", 0, 1]]);
  assert.ok(Date.parse(res.body[0].lastSeen) > Date.now() - 60_000);
  assert.equal(typeof res.body[0].appliedAt, "string");
});

test("a write with wait=applied answers once every live agent acked", async () => {
  const subs = await Promise.all([fakeAgent(fx.keys, "edge-1", 5), fakeAgent(fx.keys, "edge-2", 60)]);
  try {
    const t0 = Date.now();
    const res = await request(fx.app).put("/v1/routes/a.com?wait=applied&timeout=3000").set(auth()).send({ upstream: "blue" }).expect(200);
    assert.deepEqual({ ...res.body, applied: res.body.applied.map((a: { id: string }) => a.id) }, { revision: 2, complete: true, applied: ["edge-1", "edge-2"], missing: [] });
    assert.ok(Date.now() - t0 < 2000, "did not wait for the timeout");
  } finally {
    for (const s of subs) s.disconnect();
  }
});

test("wait=applied reports the agents that did not ack when the timeout passes", async () => {
  const sub = await fakeAgent(fx.keys, "edge-1", 0);
  await heartbeat(fx.keys, "edge-silent", 0);
  try {
    const t0 = Date.now();
    const res = await request(fx.app).post("/_switch_upstream?host=a.com&upstream=blue&create=true&wait=applied&timeout=1500").set(auth()).expect(200);
    assert.match(res.text, /a\.com change upstream from none to blue\napplied on 1\/2 agents; missing: edge-silent\n/);
    assert.ok(Date.now() - t0 >= 1500);
    const json = await request(fx.app).put("/v1/default?wait=applied&timeout=1000").set(auth()).send({ upstream: "blue" }).expect(200);
    assert.equal(json.body.complete, false);
    assert.deepEqual(json.body.missing, ["edge-silent"]);
  } finally {
    sub.disconnect();
  }
});

test("an ack lost with a subscription is recovered from the heartbeat record", async () => {
  await heartbeat(fx.keys, "edge-quiet", 0);
  const pending = request(fx.app).put("/v1/routes/a.com?wait=applied&timeout=3000").set(auth()).send({ upstream: "blue" });
  const res = pending.then((r) => r);
  await waitFor(async () => (await redis.get(fx.keys.rev)) === "2", { what: "the write" });
  await heartbeat(fx.keys, "edge-quiet", 2);
  const body = (await res).body;
  assert.equal(body.complete, true);
  assert.deepEqual(body.missing, []);
});

test("a bad wait or timeout parameter gets 400 and writes nothing", async () => {
  await unchanged(fx, async () => {
    await request(fx.app).put("/v1/routes/a.com?wait=yes").set(auth()).send({ upstream: "blue" }).expect(400);
    await request(fx.app).put("/v1/routes/a.com?wait=applied&timeout=-1").set(auth()).send({ upstream: "blue" }).expect(400);
    await request(fx.app).put("/v1/routes/a.com?timeout=100").set(auth()).send({ upstream: "blue" }).expect(400);
    await request(fx.app).put("/v1/routes/a.com?wait=applied&timeout=999999").set(auth()).send({ upstream: "blue" }).expect(400);
  });
});

test("with no live agents wait=applied completes at once", async () => {
  const res = await request(fx.app).put("/v1/routes/a.com?wait=applied").set(auth()).send({ upstream: "blue" }).expect(200);
  assert.deepEqual(res.body, { revision: 2, complete: true, applied: [], missing: [] });
});
