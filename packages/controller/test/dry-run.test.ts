import assert from "node:assert/strict";
import { describe, test } from "node:test";
import request from "supertest";
import { diffStates, type Op } from "@switchyard/shared";
import { seededRandom, testSeed } from "@switchyard/testkit";
import { READ, auth, fixturePerTest, unchanged, type Fixture } from "./fixture.js";

/**
 * `?dryRun=true` on every write answers 200 {dryRun, revision, diff} and writes nothing (state,
 * revision, change log, audit and cutover records unmoved), after every check the real write runs:
 * a rehearsal that would be refused gets the very answer the write gets.
 */

let fx: Fixture;
let cutoverId: string;
const blue = { targets: [{ address: "127.0.0.1:9001", weight: 1 }] };
const green = { targets: [{ address: "127.0.0.1:9002", weight: 1 }] };
fixturePerTest(async (f) => {
  fx = f;
  await request(fx.app).put("/v1/pools/blue").set(auth()).send(blue).expect(200);
  await request(fx.app).put("/v1/pools/green").set(auth()).send(green).expect(200);
  await request(fx.app).put("/v1/pools/spare").set(auth()).send(green).expect(200);
  await request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue" }).expect(200);
  await request(fx.app).put("/v1/default").set(auth()).send({ upstream: "green" }).expect(200);
  // Revision 5; a scheduled cutover for abort and promote.
  const at = new Date(Date.now() + 3_600_000).toISOString();
  cutoverId = (await request(fx.app).post("/v1/cutovers").set(auth()).send({ host: "a.com", to: "green", at }).expect(202)).body.id;
});

type Send = (f: Fixture, q: string) => request.Test;
const route = (host: string, upstream: unknown) => ({ path: `/routes/${host}`, before: null, after: { upstream } });
const writes: [string, Send, unknown[]][] = [
  ["PUT /v1/pools/:name", (f, q) => request(f.app).put(`/v1/pools/red${q}`).set(auth()).send({ targets: [{ address: "127.0.0.1:9003" }] }), [{ path: "/pools/red", before: null, after: { targets: [{ address: "127.0.0.1:9003", weight: 1 }] } }]],
  ["DELETE /v1/pools/:name", (f, q) => request(f.app).delete(`/v1/pools/spare${q}`).set(auth()).set("If-Match", '"5"'), [{ path: "/pools/spare", before: green, after: null }]],
  ["PUT /v1/routes/:host", (f, q) => request(f.app).put(`/v1/routes/b.com${q}`).set(auth()).send({ upstream: "green" }), [route("b.com", "green")]],
  ["DELETE /v1/routes/:host", (f, q) => request(f.app).delete(`/v1/routes/a.com${q}`).set(auth()), [{ path: "/routes/a.com", before: { upstream: "blue" }, after: null }]],
  ["PUT /v1/default", (f, q) => request(f.app).put(`/v1/default${q}`).set(auth()).send({ upstream: null }), [{ path: "/defaultUpstream", before: "green", after: null }]],
  ["POST /_switch_upstream", (f, q) => request(f.app).post(`/_switch_upstream${q}&host=a.com&upstream=green`).set(auth()), [{ path: "/routes/a.com", before: { upstream: "blue" }, after: { upstream: "green" } }]],
  ["POST /v1/changes", (f, q) => request(f.app).post(`/v1/changes${q}`).set(auth()).send({ ops: [{ op: "route.put", host: "c.com", route: { upstream: "blue" } }, { op: "route.del", host: "a.com" }] }),
    [{ path: "/routes/a.com", before: { upstream: "blue" }, after: null }, route("c.com", "blue")]],
  ["PUT /v1/state", (f, q) => request(f.app).put(`/v1/state${q}`).set(auth()).send({ pools: { blue }, routes: { "a.com": { upstream: "blue" } } }),
    [{ path: "/defaultUpstream", before: "green", after: null }, { path: "/pools/green", before: green, after: null }, { path: "/pools/spare", before: green, after: null }]],
  ["POST /v1/rollback", (f, q) => request(f.app).post(`/v1/rollback${q}`).set(auth()).send({ to: 2 }),
    [{ path: "/defaultUpstream", before: "green", after: null }, { path: "/pools/spare", before: green, after: null }, { path: "/routes/a.com", before: { upstream: "blue" }, after: null }]],
  ["POST /v1/cutovers", (f, q) => request(f.app).post(`/v1/cutovers${q}`).set(auth()).send({ host: "b.com", to: "green", preflight: false }), [route("b.com", "green")]],
  ["POST /v1/cutovers/:id/promote", (f, q) => request(f.app).post(`/v1/cutovers/${cutoverId}/promote${q}`).set(auth()), [{ path: "/routes/a.com", before: { upstream: "blue" }, after: { upstream: "green" } }]],
  // Scheduled: nothing was switched, so an abort puts nothing back.
  ["POST /v1/cutovers/:id/abort", (f, q) => request(f.app).post(`/v1/cutovers/${cutoverId}/abort${q}`).set(auth()), []],
];

describe("dry-run on every write", () => {
  for (const [name, send, expected] of writes) {
    test(`${name}?dryRun=true answers the diff at the current revision and writes nothing`, async () => {
      const cutoverBefore = await fx.repo.get(cutoverId);
      const cutovers = (await fx.repo.list()).length;
      await unchanged(fx, async () => {
        const res = await send(fx, "?dryRun=true");
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.dryRun, true);
        assert.equal(res.body.revision, 5);
        assert.deepEqual(res.body.diff, expected);
      });
      assert.deepEqual(await fx.repo.get(cutoverId), cutoverBefore);
      assert.equal((await fx.repo.list()).length, cutovers, "no cutover was created");
    });
  }

  test("dryRun=false is a real write; any other value, or with wait, is 400 invalid and writes nothing", async () => {
    await unchanged(fx, async () => {
      for (const q of ["?dryRun=yes", "?dryRun=1", "?dryRun=true&wait=applied", "?dryRun=true&timeout=100", "?dryRun=true&dryRun=true"]) {
        const res = await request(fx.app).put(`/v1/routes/b.com${q}`).set(auth()).send({ upstream: "green" });
        assert.equal(res.status, 400, q);
        assert.equal(res.body.error, "invalid", q);
      }
    });
    await request(fx.app).put("/v1/routes/b.com?dryRun=false").set(auth()).send({ upstream: "green" }).expect(200, { revision: 6 });
  });

  test("reads do not take dryRun: 400 unknown_parameter", async () => {
    for (const path of ["/v1/state", "/v1/audit", "/v1/revisions", "/v1/pools/blue"]) {
      const res = await request(fx.app).get(`${path}?dryRun=true`).set(auth(READ)).expect(400);
      assert.equal(res.body.error, "unknown_parameter");
    }
  });

  test("a dry run needs a write token", async () => {
    await unchanged(fx, () => request(fx.app).put("/v1/routes/b.com?dryRun=true").set(auth(READ)).send({ upstream: "green" }).expect(403));
  });
});

describe("a rehearsal is refused exactly when the write would be", () => {
  const refused: [string, (f: Fixture, q: string) => request.Test, number, string, string?][] = [
    ["a route naming a missing pool", (f, q) => request(f.app).put(`/v1/routes/b.com${q}`).set(auth()).send({ upstream: "nope" }), 400, "invalid", "upstream"],
    ["deleting a pool in use", (f, q) => request(f.app).delete(`/v1/pools/blue${q}`).set(auth()), 409, "conflict"],
    ["a stale If-Match", (f, q) => request(f.app).put(`/v1/routes/a.com${q}`).set(auth()).set("If-Match", '"4"').send({ upstream: "green" }), 412, "precondition_failed"],
    ["deleting a route that does not exist", (f, q) => request(f.app).delete(`/v1/routes/nope.com${q}`).set(auth()), 404, "not_found"],
    ["an invalid body", (f, q) => request(f.app).put(`/v1/pools/x${q}`).set(auth()).send({ targets: [] }), 400, "invalid", "targets"],
    ["switching an unknown host", (f, q) => request(f.app).post(`/_switch_upstream${q}&host=typo.com&upstream=green`).set(auth()), 404, "unknown_host", "host"],
    ["a batch whose second op names a missing pool", (f, q) => request(f.app).post(`/v1/changes${q}`).set(auth()).send({ ops: [{ op: "pool.put", name: "red", pool: blue }, { op: "default.put", upstream: "nope" }] }), 400, "invalid", "ops.1"],
    ["a batch deleting a pool in use", (f, q) => request(f.app).post(`/v1/changes${q}`).set(auth()).send({ ops: [{ op: "pool.del", name: "green" }] }), 409, "conflict", "ops.0"],
    ["a state whose route names a pool it does not have", (f, q) => request(f.app).put(`/v1/state${q}`).set(auth()).send({ routes: { "a.com": { upstream: "blue" } } }), 400, "invalid", "routes.a.com"],
    ["a rollback ahead of the current revision", (f, q) => request(f.app).post(`/v1/rollback${q}`).set(auth()).send({ to: 99 }), 400, "invalid", "to"],
    ["a cutover of a host that already has one", (f, q) => request(f.app).post(`/v1/cutovers${q}`).set(auth()).send({ host: "a.com", to: "green", preflight: false }), 409, "conflict", "host"],
    ["a cutover to a missing pool", (f, q) => request(f.app).post(`/v1/cutovers${q}`).set(auth()).send({ host: "b.com", to: "nope" }), 400, "invalid", "to"],
  ];
  for (const [claim, send, status, code, field] of refused) {
    test(`${claim}: ${status} ${code}, dry run and write alike`, async () => {
      await unchanged(fx, async () => {
        for (const q of ["?dryRun=true", "?"]) {
          const res = await send(fx, q);
          assert.equal(res.status, status, `${q}: ${res.text}`);
          assert.equal(res.body.error, code, q);
          if (field) assert.equal(res.body.field, field, q);
        }
      });
    });
  }

  test("random batches: the dry run's answer is the write's (same refusal, or the diff the write made)", async () => {
    const seed = testSeed();
    const r = seededRandom(seed);
    const pools = ["blue", "green", "red", "p4"];
    const hosts = ["a.com", "b.com", "c.com", "d.com"];
    const up = () => (r.chance(0.2) ? { split: { [r.pick(pools)]: 100 } } : r.pick(pools));
    const op = (): Op => {
      const k = r.int(0, 9);
      if (k < 3) return { op: "route.put", host: r.pick(hosts), route: { upstream: up() } };
      if (k < 5) return { op: "route.del", host: r.pick(hosts) };
      if (k < 7) return { op: "pool.put", name: r.pick(pools), pool: blue };
      if (k < 9) return { op: "pool.del", name: r.pick(pools) };
      return { op: "default.put", upstream: r.chance(0.3) ? null : up() };
    };
    let accepted = 0;
    for (let i = 0; i < 60; i++) {
      const ops = Array.from({ length: r.int(1, 4) }, op);
      const before = await fx.reader.snapshot();
      const dry = await request(fx.app).post("/v1/changes?dryRun=true").set(auth()).send({ ops });
      const real = await request(fx.app).post("/v1/changes").set(auth()).send({ ops });
      const ctx = `seed ${seed} (TEST_SEED=${seed} replays it), batch ${i}: ${JSON.stringify(ops)}`;
      assert.equal(dry.status, real.status, `${ctx}: ${dry.text} vs ${real.text}`);
      assert.equal(dry.body.error, real.body.error, ctx);
      assert.equal(dry.body.field, real.body.field, ctx);
      if (real.status === 200) {
        accepted++;
        const after = await fx.reader.snapshot();
        assert.equal(after.revision, before.revision + 1, ctx);
        assert.deepEqual(dry.body.diff, JSON.parse(JSON.stringify(diffStates(before.state, after.state))), ctx);
      }
    }
    assert.ok(accepted >= 5, `only ${accepted} of 60 batches were accepted (seed ${seed}): the generator explores too little`);
  });
});
