import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import request from "supertest";
import { startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { READ, auth, makeFixture, readyRedis, type Fixture } from "./fixture.js";

let server: RedisHandle;
let fx: Fixture;

before(async () => {
  server = await startRedis();
  fx = makeFixture(server, 1500);
  await readyRedis(fx.redis);
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
});
after(async () => {
  server.resume();
  await fx.close();
  await server.stop();
});

test("a hung Redis (SIGSTOP) gives 503 within 3 s for reads, writes and readyz, never a hang", async () => {
  server.pause();
  try {
    for (const send of [
      () => request(fx.app).get("/v1/state").set(auth(READ)),
      () => request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue" }),
      () => request(fx.app).get("/readyz"),
    ]) {
      const t0 = Date.now();
      const res = await send().timeout(5000);
      const took = Date.now() - t0;
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.ok(took < 3000, `answered in ${took} ms`);
      assert.match(res.body.error, /redis_unavailable|not_ready/);
    }
  } finally {
    server.resume();
  }
  await waitFor(async () => (await request(fx.app).get("/v1/state").set(auth(READ))).status === 200, { timeoutMs: 10_000, what: "recovery after SIGCONT" });
});

test("a dead Redis gives 503 at once and the controller reconnects when it returns", async () => {
  await server.kill();
  const t0 = Date.now();
  const res = await request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue" }).timeout(5000);
  assert.equal(res.status, 503);
  assert.equal(res.body.error, "redis_unavailable");
  assert.ok(Date.now() - t0 < 3000, `answered in ${Date.now() - t0} ms`);
  await request(fx.app).get("/readyz").expect(503);
  await server.start();
  await waitFor(async () => (await request(fx.app).get("/readyz")).status === 200, { timeoutMs: 10_000, what: "reconnect" });
  // The new server is empty and this controller knew a lineage: writes wait for a restore from the
  // fleet (there is none here) or an explicit fresh start; then revision 1 of a new lineage.
  const refused = await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(503);
  assert.equal(refused.body.error, "store_uninitialized");
  await request(fx.app).post("/v1/store/init?confirm=true").set(auth()).expect(200);
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200, { revision: 1 });
});

test("writes answered 503 during a SIGSTOP never land after SIGCONT: write.lua refuses them past their deadline", async () => {
  const before = await fx.reader.revision();
  const answers: number[] = [];
  server.pause();
  try {
    // Five writes spread over the stop (each waits out the 1.5 s command timeout): every one is
    // answered 503 while its script waits in Redis's socket buffer.
    for (let i = 1; i <= 5; i++) {
      const t0 = Date.now();
      const res = await request(fx.app).put(`/v1/routes/late-${i}.com`).set(auth()).send({ upstream: "blue" }).timeout(5000);
      answers.push(Date.now() - t0);
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error, "redis_unavailable");
    }
  } finally {
    server.resume();
  }
  const resumed = Date.now();
  // Redis runs the buffered scripts first, in order, then this one, sent on the same connection.
  let res: request.Response | undefined;
  await waitFor(async () => (res = await request(fx.app).put("/v1/routes/after.com").set(auth()).send({ upstream: "blue" })).status === 200, {
    timeoutMs: 10_000, what: "a write after SIGCONT",
  });
  const convergeMs = Date.now() - resumed;
  assert.equal(res?.body.revision, before + 1, "the five late writes took no revision");
  const routes = await fx.redis.hkeys(fx.keys.routes);
  assert.deepEqual(routes.filter((h) => h.startsWith("late-")), [], "no late write landed");
  assert.equal(await fx.redis.xlen(fx.keys.log), before + 1);
  const lost = routes.filter((h) => h.startsWith("late-")).length;
  console.log(`# fault mode 4: F=n/a L=${lost} D=${Math.max(...answers)}ms C=${convergeMs}ms (5 writes answered 503 during SIGSTOP, 0 landed)`);
});
