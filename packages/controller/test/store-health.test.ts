import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import request from "supertest";
import { waitFor } from "@switchyard/testkit";
import { READ, auth, fixturePerTest, type Fixture } from "./fixture.js";

/**
 * The store's health beyond "Redis answers" (fault modes 3 and 6, controller side): an invalid
 * entry put in Redis by hand, a Redis out of memory (real maxmemory with noeviction) and an
 * evicting maxmemory-policy each make /readyz 503 with a code saying which, and writes refused
 * with a clear code, never 500. Each test breaks a private redis-server on purpose and mends it.
 */

let fx: Fixture;
let admin: Redis | undefined;
const { server } = fixturePerTest(async (f) => {
  fx = f;
  admin ??= new Redis(server().url);
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
  await request(fx.app).put("/v1/routes/good.local").set(auth()).send({ upstream: "blue" }).expect(200);
});
after(() => admin?.disconnect());

const readyz = () => request(fx.app).get("/readyz");
const write = (host = "a.com") => request(fx.app).put(`/v1/routes/${host}`).set(auth()).send({ upstream: "blue" });

test("an invalid entry in Redis: /readyz 503 corrupt_state, writes 503 corrupt_state naming the key, /v1/store/check lists it; fixed, all recover", async () => {
  const a = admin as Redis;
  await readyz().expect(200);
  const t0 = Date.now();
  await a.hset(fx.keys.routes, "bad.local", "{not json");
  await a.hset(fx.keys.pools, "broken", JSON.stringify({ targets: "nope" }));
  await waitFor(async () => (await readyz()).status === 503, { timeoutMs: 5000, what: "readyz 503" });
  const detectMs = Date.now() - t0;
  const r = await readyz();
  assert.equal(r.body.error, "corrupt_state");
  assert.match(r.body.message, /2 invalid entries.*\/v1\/store\/check/);
  assert.doesNotMatch(r.body.message, /bad\.local/, "the unauthenticated probe names no keys");

  // The raw keys (a snapshot refuses to read invalid entries).
  const raw = () => Promise.all([a.get(fx.keys.rev), a.hgetall(fx.keys.routes), a.hgetall(fx.keys.pools), a.get(fx.keys.default), a.xlen(fx.keys.log), a.xlen(fx.keys.audit)]);
  const before = await raw();
  const w = await write();
  assert.equal(w.status, 503, JSON.stringify(w.body));
  assert.equal(w.body.error, "corrupt_state");
  assert.ok(w.body.message.includes(`${fx.keys.routes} bad.local (is not valid JSON)`), w.body.message);
  assert.ok(w.body.message.includes(`${fx.keys.pools} broken (is not a valid pool)`), w.body.message);
  // A batch and a PUT of the whole state are refused the same way; nothing moved.
  assert.equal((await request(fx.app).post("/v1/changes").set(auth()).send({ ops: [{ op: "route.del", host: "good.local" }] })).body.error, "corrupt_state");
  await request(fx.app).put("/v1/default").set(auth()).send({ upstream: "blue" }).expect(503);
  assert.deepEqual(await raw(), before);

  const check = await request(fx.app).get("/v1/store/check").set(auth(READ)).expect(200);
  assert.equal(check.body.ok, false);
  assert.equal(check.body.total, 2);
  assert.deepEqual(
    check.body.problems.map((p: { key: string; field?: string }) => `${p.key} ${p.field}`).sort(),
    [`${fx.keys.pools} broken`, `${fx.keys.routes} bad.local`].sort(),
  );
  await request(fx.app).get("/v1/store/check").expect(401);

  await a.hdel(fx.keys.routes, "bad.local");
  await a.hdel(fx.keys.pools, "broken");
  const healed = Date.now();
  await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 5000, what: "readyz 200 once fixed" });
  await waitFor(async () => (await write()).status === 200, { timeoutMs: 5000, what: "writes accepted once fixed" });
  console.log(`# fault mode 3 (controller): F=n/a L=0 D=${detectMs}ms C=${Date.now() - healed}ms (readyz 503 and writes 503 corrupt_state while the bad entries were in Redis)`);
  assert.deepEqual((await request(fx.app).get("/v1/store/check").set(auth(READ))).body.problems, []);
});

test("a route naming a pool that does not exist, a bad default and a wrong-typed key are each named", async () => {
  const a = admin as Redis;
  await a.hset(fx.keys.routes, "dangling.local", JSON.stringify({ upstream: "ghost" }));
  await a.set(fx.keys.default, "[1,2]");
  const res = await request(fx.app).get("/v1/store/check").set(auth(READ)).expect(200);
  const text = JSON.stringify(res.body.problems);
  assert.match(text, /dangling\.local.*names pool 'ghost'/);
  assert.ok(res.body.problems.some((p: { key: string }) => p.key === fx.keys.default), text);
  await a.del(fx.keys.default, fx.keys.routes);
  await a.set(fx.keys.routes, "not a hash");
  const wt = await request(fx.app).get("/v1/store/check").set(auth(READ)).expect(200);
  assert.deepEqual(wt.body.problems, [{ key: fx.keys.routes, message: "holds the wrong Redis type" }]);
  await a.del(fx.keys.routes);
});

test("Redis out of memory (maxmemory under its use, noeviction): writes answer 503 store_full, /readyz 503 store_full, GET /v1/state keeps answering 200", async () => {
  const a = admin as Redis;
  // A maxmemory below what Redis already uses, with noeviction: Redis refuses every write that
  // may grow memory and keeps serving reads (a slowly filling Redis flickers in and out of this).
  const used = Number(/^used_memory:(\d+)/m.exec(await a.info("memory"))?.[1]);
  await a.config("SET", "maxmemory", String(Math.floor(used / 2)));
  try {
    assert.match(String(await a.set(`${fx.keys.prefix}filler`, "x").catch((err: Error) => err.message)), /^OOM/, "Redis refuses writes");
    const t0 = Date.now();
    const w = await write("full.local");
    assert.equal(w.status, 503, JSON.stringify(w.body));
    assert.equal(w.body.error, "store_full");
    assert.match(w.body.message, /out of memory/);
    const r = await readyz();
    const detectMs = Date.now() - t0;
    assert.equal(r.status, 503);
    assert.equal(r.body.error, "store_full");
    // Reads do not need memory: MULTI is refused under OOM, so the snapshot falls back to plain reads.
    let failed = 0;
    for (let i = 0; i < 30; i++) {
      const s = await request(fx.app).get("/v1/state").set(auth(READ));
      if (s.status !== 200) failed++;
      else assert.deepEqual(Object.keys(s.body.routes), ["good.local"]);
    }
    assert.equal(failed, 0, "GET /v1/state under OOM");
    for (let i = 0; i < 5; i++) assert.notEqual((await write(`f${i}.local`)).status, 500);
    await a.config("SET", "maxmemory", "0");
    const healed = Date.now();
    await waitFor(async () => (await write("after.local")).status === 200, { timeoutMs: 5000, what: "writes once memory is freed" });
    await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 5000, what: "ready once memory is freed" });
    console.log(`# fault mode 6: F=${failed} L=0 D=${detectMs}ms C=${Date.now() - healed}ms (30 GET /v1/state under OOM all 200; writes 503 store_full)`);
  } finally {
    await a.config("SET", "maxmemory", "0");
  }
});

test("a maxmemory-policy other than noeviction: /readyz 503 eviction_policy explaining why", async () => {
  const a = admin as Redis;
  await a.config("SET", "maxmemory-policy", "allkeys-lru");
  try {
    const r = await readyz();
    assert.equal(r.status, 503);
    assert.equal(r.body.error, "eviction_policy");
    assert.match(r.body.message, /allkeys-lru.*delete.*noeviction/);
  } finally {
    await a.config("SET", "maxmemory-policy", "noeviction");
  }
  await readyz().expect(200);
});
