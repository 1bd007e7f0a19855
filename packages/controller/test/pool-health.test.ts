import assert from "node:assert/strict";
import { test } from "node:test";
import request from "supertest";
import { READ, auth, fixturePerTest, type Fixture } from "./fixture.js";

let fx: Fixture;
fixturePerTest(async (f) => {
  fx = f;
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }, { address: "127.0.0.1:2", drain: true }] }).expect(200);
});

/** A stand-in agent's heartbeat record carrying per-target health, as proof.lua stores it. */
async function beat(id: string, health: unknown): Promise<void> {
  const now = Date.now();
  const rec = { id, epoch: await fx.redis.get(fx.keys.epoch), revision: 1, appliedAt: now, startedAt: now - 1000, version: "test", address: "127.0.0.2:8080", seenAt: now, ...(health === undefined ? {} : { health }) };
  await fx.redis.multi().set(fx.keys.agent(id), JSON.stringify(rec), "PX", 5000).zadd(fx.keys.agents, now + 5000, id).exec();
}

test("GET /v1/pools/:name/health answers each reporting agent's view of the pool's targets", async () => {
  const since = Date.now() - 5000;
  await beat("edge-1", [
    { pool: "blue", panic: false, targets: [{ address: "127.0.0.1:1", state: "ejected", since, lastError: "connect ECONNREFUSED 127.0.0.1:1" }, { address: "127.0.0.1:2", state: "draining", since, lastError: null }] },
    { pool: "green", panic: false, targets: [{ address: "127.0.0.1:3", state: "healthy", since, lastError: null }] },
  ]);
  await beat("edge-2", []);
  await beat("old-agent", undefined);
  const res = await request(fx.app).get("/v1/pools/blue/health").set(auth(READ)).expect(200);
  assert.deepEqual(res.body, [
    {
      agent: "edge-1", panic: false,
      targets: [
        { address: "127.0.0.1:1", state: "ejected", since: new Date(since).toISOString(), lastError: "connect ECONNREFUSED 127.0.0.1:1" },
        { address: "127.0.0.1:2", state: "draining", since: new Date(since).toISOString(), lastError: null },
      ],
    },
    // Live, but has not applied the pool yet.
    { agent: "edge-2", panic: false, targets: [] },
  ]);
});

test("an unknown pool is 404 JSON, a bad name 400, and the endpoint needs a token", async () => {
  const missing = await request(fx.app).get("/v1/pools/nope/health").set(auth(READ)).expect(404);
  assert.equal(missing.body.error, "not_found");
  assert.equal((await request(fx.app).get("/v1/pools/Bad_Name!/health").set(auth(READ)).expect(400)).body.error, "invalid");
  await request(fx.app).get("/v1/pools/blue/health").expect(401);
  assert.equal((await request(fx.app).get("/v1/pools/blue/health?x=1").set(auth(READ)).expect(400)).body.error, "unknown_parameter");
  assert.equal((await request(fx.app).post("/v1/pools/blue/health").set(auth()).expect(405)).body.error, "method_not_allowed");
});

test("a pool's health fields are stored as written, and unknown ones refused", async () => {
  const pool = {
    targets: [{ address: "127.0.0.1:8081", weight: 1, drain: false }], keepalive: 64,
    healthCheck: { path: "/healthz", interval: "2s", timeout: "1s", healthyThreshold: 2, unhealthyThreshold: 2, expectStatus: "200-399" },
    passive: { consecutiveFailures: 3, ejectFor: "10s", maxEjectedPercent: 50 }, slowStart: "30s", retry: { on: ["502", "503", "504"], tries: 2 },
  };
  await request(fx.app).put("/v1/pools/full").set(auth()).send(pool).expect(200);
  assert.deepEqual((await request(fx.app).get("/v1/pools/full").set(auth(READ)).expect(200)).body, { name: "full", ...pool });
  const bad = await request(fx.app).put("/v1/pools/full").set(auth()).send({ ...pool, passive: { ...pool.passive, ejectAfter: 1 } }).expect(400);
  assert.equal(bad.body.error, "invalid");
  await request(fx.app).put("/v1/pools/full").set(auth()).send({ ...pool, slowStart: "soon" }).expect(400);
});
