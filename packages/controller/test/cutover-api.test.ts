import assert from "node:assert/strict";
import { describe, test } from "node:test";
import request from "supertest";
import { READ, auth, fixturePerTest, unchanged, type Fixture } from "./fixture.js";

let fx: Fixture;
fixturePerTest(async (f) => {
  fx = f;
  for (const p of ["blue", "green"]) await request(fx.app).put(`/v1/pools/${p}`).set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
  await request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue" }).expect(200);
  await request(fx.app).put("/v1/routes/rules.com").set(auth()).send({ rules: [{ path: "/", upstream: "blue" }] }).expect(200);
});

const post = (body: unknown, token = auth()) => request(fx.app).post("/v1/cutovers").set(token).send(body as object);

describe("POST /v1/cutovers", () => {
  test("accepts a cutover with 202 { id }, records it and lists it newest first", async () => {
    const first = await post({ host: "a.com", to: "green", from: "blue" }).expect(202);
    assert.match(first.body.id, /^co-[0-9a-f]{12}$/);
    const got = await request(fx.app).get(`/v1/cutovers/${first.body.id}`).set(auth(READ)).expect(200);
    assert.equal(got.body.state, "preflight");
    assert.deepEqual(got.body.hosts, ["a.com"]);
    assert.deepEqual(got.body.from, { "a.com": "blue" });
    assert.equal(got.body.createdBy, "ops");
    assert.equal(got.body.original, undefined, "internal bookkeeping stays out of the API");
    const second = await post({ hosts: ["b.com"], to: "green" }).expect(202);
    const list = await request(fx.app).get("/v1/cutovers").set(auth(READ)).expect(200);
    assert.deepEqual(list.body.map((c: { id: string }) => c.id), [second.body.id, first.body.id]);
  });

  test("a second active cutover on the same host gets 409, also inside a multi-host one", async () => {
    await post({ host: "a.com", to: "green" }).expect(202);
    const res = await post({ hosts: ["b.com", "a.com"], to: "green" }).expect(409);
    assert.match(res.body.message, /a\.com already has an active cutover/);
    await post({ host: "b.com", to: "green" }).expect(202);
  });

  test("a scheduled cutover can be aborted before its time", async () => {
    const at = new Date(Date.now() + 60_000).toISOString();
    const { body } = await post({ host: "a.com", to: "green", at }).expect(202);
    assert.equal((await request(fx.app).get(`/v1/cutovers/${body.id}`).set(auth(READ))).body.state, "scheduled");
    const abort = await request(fx.app).post(`/v1/cutovers/${body.id}/abort`).set(auth()).expect(202);
    assert.equal(abort.body.state, "aborted");
    await request(fx.app).post(`/v1/cutovers/${body.id}/abort`).set(auth()).expect(409);
    await request(fx.app).post(`/v1/cutovers/${body.id}/promote`).set(auth()).expect(409);
    // The lock is released with the terminal state.
    await post({ host: "a.com", to: "green" }).expect(202);
  });

  const refused: [string, unknown, number, RegExp][] = [
    ["a time in the past", { host: "a.com", to: "green", at: "2020-01-01T00:00:00Z" }, 400, /past/],
    ["a time without a zone", { host: "a.com", to: "green", at: "2030-01-01T00:00:00" }, 400, /zone/],
    ["a from that differs from the current upstream", { host: "a.com", to: "green", from: "green" }, 409, /a\.com is on blue, not green/],
    ["a target already in place", { host: "a.com", to: "blue" }, 409, /already on blue/],
    ["a missing pool", { host: "a.com", to: "nope" }, 400, /pool 'nope' does not exist/],
    ["a canary onto an address", { host: "a.com", to: "127.0.0.1:9", strategy: { canary: { steps: [50, 100], interval: "1s" } } }, 400, /needs a pool/],
    ["a canary from path rules", { host: "rules.com", to: "green", strategy: { canary: { steps: [50, 100], interval: "1s" } } }, 409, /path rules/],
    ["canary steps that do not end at 100", { host: "a.com", to: "green", strategy: { canary: { steps: [5, 50], interval: "1s" } } }, 400, /last step must be 100/],
    ["canary steps that go down", { host: "a.com", to: "green", strategy: { canary: { steps: [50, 25, 100], interval: "1s" } } }, 400, /increase/],
    ["a bad duration", { host: "a.com", to: "green", bake: "soon" }, 400, /duration/],
    ["both host and hosts", { host: "a.com", hosts: ["b.com"], to: "green" }, 400, /exactly one/],
    ["an unknown field", { host: "a.com", to: "green", speed: "fast" }, 400, /unknown field/],
    ["an error rate above 1", { host: "a.com", to: "green", rollback: { maxErrorRate: 5 } }, 400, /rollback\.maxErrorRate/],
  ];
  for (const [claim, body, status, message] of refused) {
    test(`${claim} gets ${status} and records nothing`, async () => {
      await unchanged(fx, async () => {
        const res = await post(body).expect(status);
        assert.match(`${res.body.field ?? ""}: ${res.body.message}`, message);
      });
      assert.deepEqual((await request(fx.app).get("/v1/cutovers").set(auth(READ))).body, []);
    });
  }

  test("a read token cannot start, abort or promote a cutover", async () => {
    await post({ host: "a.com", to: "green" }, auth(READ)).expect(403);
    const { body } = await post({ host: "a.com", to: "green" }).expect(202);
    await request(fx.app).post(`/v1/cutovers/${body.id}/abort`).set(auth(READ)).expect(403);
    await request(fx.app).get("/v1/cutovers/co-000000000000").set(auth(READ)).expect(404);
    await request(fx.app).get("/v1/cutovers/../state").set(auth(READ)).expect(404);
  });
});
