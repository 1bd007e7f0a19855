import assert from "node:assert/strict";
import { describe, test } from "node:test";
import request from "supertest";
import { READ, auth, fixturePerTest, unchanged, type Fixture } from "./fixture.js";
import { fakeAgent } from "./fleet-helpers.js";

/** POST /v1/changes (atomic batches) and PUT /v1/state (config as code): one revision each, or nothing. */

let fx: Fixture;
const { server } = fixturePerTest(async (f) => void (fx = f));

const pool = (port: number) => ({ targets: [{ address: `127.0.0.1:${port}`, weight: 1 }] });
const state = async () => JSON.parse(JSON.stringify(await fx.reader.snapshot()));

async function seed() {
  await request(fx.app).post("/v1/changes").set(auth()).send({
    ops: [
      { op: "pool.put", name: "blue", pool: pool(9001) },
      { op: "pool.put", name: "green", pool: pool(9002) },
      { op: "route.put", host: "a.com", route: { upstream: "blue" } },
      { op: "route.put", host: "b.com", route: { upstream: "blue" } },
      { op: "default.put", upstream: "blue" },
    ],
  }).expect(200, { revision: 1 });
}

describe("POST /v1/changes", () => {
  test("applies many ops as one revision: one log entry, one audit record per op", async () => {
    await seed();
    const hosts = Array.from({ length: 50 }, (_, i) => `h${i}.example.com`);
    const res = await request(fx.app).post("/v1/changes").set(auth()).send({
      ops: [{ op: "pool.put", name: "green", pool: pool(9003) }, ...hosts.map((host) => ({ op: "route.put", host, route: { upstream: "green" } }))],
    }).expect(200);
    assert.deepEqual(res.body, { revision: 2 });
    assert.equal(res.headers.etag, '"2"');
    const s = await state();
    assert.equal(s.revision, 2);
    for (const h of hosts) assert.deepEqual(s.state.routes[h], { upstream: "green" });
    assert.equal(await fx.redis.xlen(fx.keys.log), 2);
    assert.equal((await fx.reader.audit(1000)).filter((a) => a.revision === 2).length, 51);
  });

  test("all or nothing: a refused op leaves every other op of the batch unwritten", async () => {
    await seed();
    await unchanged(fx, async () => {
      const res = await request(fx.app).post("/v1/changes").set(auth()).send({
        ops: [{ op: "route.put", host: "a.com", route: { upstream: "green" } }, { op: "pool.del", name: "blue" }],
      }).expect(409);
      assert.equal(res.body.error, "conflict");
      assert.equal(res.body.field, "ops.1");
      assert.match(res.body.message, /^op 2 \(pool\.del blue\): pool 'blue' is still used by /);
    });
    // The same pool delete succeeds once the batch moves its users first: ops see the earlier ones.
    await request(fx.app).post("/v1/changes").set(auth()).send({
      ops: [{ op: "route.put", host: "a.com", route: { upstream: "green" } }, { op: "route.del", host: "b.com" }, { op: "default.put", upstream: null }, { op: "pool.del", name: "blue" }],
    }).expect(200, { revision: 2 });
    assert.deepEqual(Object.keys((await state()).state.pools), ["green"]);
  });

  test("If-Match, ?wait=applied and the bounds on the batch", async () => {
    await seed();
    const put = { ops: [{ op: "route.put", host: "a.com", route: { upstream: "green" } }] };
    await unchanged(fx, async () => {
      await request(fx.app).post("/v1/changes").set(auth()).set("If-Match", '"0"').send(put).expect(412);
      for (const body of [{ ops: [] }, {}, { ops: put.ops, extra: 1 }, { ops: [{ op: "route.put", host: "a.com" }] }, { ops: [{ op: "noop" }] }, { ops: Array.from({ length: 10_001 }, () => put.ops[0]) }]) {
        const res = await request(fx.app).post("/v1/changes").set(auth()).send(body);
        assert.equal(res.status, 400, JSON.stringify(body).slice(0, 100));
        assert.equal(res.body.error, "invalid");
      }
      const big = await request(fx.app).post("/v1/changes").set(auth()).send({ ops: put.ops, pad: "x".repeat(5 << 20) }).expect(413);
      assert.equal(big.body.message, "the body is larger than 4 MiB");
      await request(fx.app).post("/v1/changes").set(auth(READ)).send(put).expect(403);
    });
    await request(fx.app).post("/v1/changes").set(auth()).set("If-Match", '"1"').send(put).expect(200, { revision: 2 });
    const agent = await fakeAgent(server().url, fx.keys, "edge-1", 2);
    try {
      const waited = await request(fx.app).post("/v1/changes?wait=applied&timeout=5000").set(auth()).send({ ops: [{ op: "route.del", host: "b.com" }] }).expect(200);
      assert.equal(waited.body.revision, 3);
      assert.equal(waited.body.complete, true);
      assert.deepEqual(waited.body.applied.map((a: { id: string }) => a.id), ["edge-1"]);
    } finally {
      agent.disconnect();
    }
  });
});

describe("PUT /v1/state", () => {
  test("makes the state equal to the body in one revision and answers the diff", async () => {
    await seed();
    const body = { defaultUpstream: null, pools: { green: pool(9002), red: pool(9004) }, routes: { "a.com": { upstream: "red" }, "c.com": { upstream: { split: { green: 50, red: 50 } } } } };
    const res = await request(fx.app).put("/v1/state").set(auth()).send(body).expect(200);
    assert.equal(res.body.revision, 2);
    assert.equal(res.body.changed, true);
    assert.equal(res.body.prune, true);
    assert.deepEqual(res.body.diff.map((d: { path: string }) => d.path), ["/defaultUpstream", "/pools/blue", "/pools/red", "/routes/a.com", "/routes/b.com", "/routes/c.com"]);
    assert.deepEqual(res.body.diff[1], { path: "/pools/blue", before: pool(9001), after: null });
    const s = await state();
    assert.deepEqual({ defaultUpstream: s.state.defaultUpstream, pools: s.state.pools, routes: s.state.routes }, body);
    // The ops were ordered so every reference held: pools put first, deletes last.
    const change = (await request(fx.app).get("/v1/revisions/2").set(auth(READ)).expect(200)).body;
    assert.deepEqual(change.ops.map((o: { op: string }) => o.op), ["pool.put", "route.put", "route.put", "default.put", "route.del", "pool.del"]);
  });

  test("putting the current state is a no-op: no new revision, changed: false", async () => {
    await seed();
    const { revision, ...current } = (await request(fx.app).get("/v1/state").set(auth(READ)).expect(200)).body;
    await unchanged(fx, async () => {
      const res = await request(fx.app).put("/v1/state").set(auth()).send(current).expect(200);
      assert.deepEqual(res.body, { revision, changed: false, diff: [], prune: true });
      // A split in another key order and targets without the default weight are the same state.
      const same = { ...current, routes: { ...current.routes, "b.com": { upstream: "blue" } }, pools: { ...current.pools, blue: { targets: [{ address: "127.0.0.1:9001" }] } } };
      assert.equal((await request(fx.app).put("/v1/state").set(auth()).send(same).expect(200)).body.changed, false);
    });
  });

  test("?prune=false keeps what the body does not name; the default is kept when absent", async () => {
    await seed();
    const res = await request(fx.app).put("/v1/state?prune=false").set(auth()).send({ routes: { "c.com": { upstream: "green" } } }).expect(200);
    assert.deepEqual(res.body.diff, [{ path: "/routes/c.com", before: null, after: { upstream: "green" } }]);
    const s = (await state()).state;
    assert.deepEqual(Object.keys(s.routes).sort(), ["a.com", "b.com", "c.com"]);
    assert.equal(s.defaultUpstream, "blue");
    assert.deepEqual(Object.keys(s.pools).sort(), ["blue", "green"]);
  });

  test("refusals change nothing: bad references, two keys for one host, bad prune, stale If-Match", async () => {
    await seed();
    await unchanged(fx, async () => {
      const refs = await request(fx.app).put("/v1/state").set(auth()).send({ pools: { blue: pool(1) }, routes: { "a.com": { upstream: "green" } } }).expect(400);
      assert.equal(refs.body.field, "routes.a.com");
      const twice = await request(fx.app).put("/v1/state").set(auth()).send({ pools: { blue: pool(1) }, routes: { "A.com": { upstream: "blue" }, "a.com": { upstream: "blue" } } }).expect(400);
      assert.match(twice.body.message, /same host/);
      await request(fx.app).put("/v1/state?prune=maybe").set(auth()).send({}).expect(400);
      await request(fx.app).put("/v1/state").set(auth()).set("If-Match", '"0"').send({}).expect(412);
      await request(fx.app).put("/v1/state").set(auth()).send({ pools: {}, routes: {}, revision: 1 }).expect(400);
    });
  });
});
