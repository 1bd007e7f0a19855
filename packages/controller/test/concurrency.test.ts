import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import request from "supertest";
import { startRedis, type RedisHandle } from "@switchyard/testkit";
import { auth, makeFixture, readyRedis, type Fixture } from "./fixture.js";

let server: RedisHandle;
let fx: Fixture;

before(async () => {
  server = await startRedis();
  fx = makeFixture(server);
  await readyRedis(fx.redis);
});
after(async () => {
  await fx.close();
  await server.stop();
});

test("2 x 50 parallel PUTs with the same If-Match give exactly 1 success and 99 x 412", async () => {
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
  const start = await fx.reader.revision();
  const etag = `"${start}"`;
  const put = (i: number) =>
    request(fx.app)
      .put(i % 2 ? "/v1/pools/blue" : "/v1/routes/race.example")
      .set(auth())
      .set("If-Match", etag)
      .send(i % 2 ? { targets: [{ address: `127.0.0.1:${i + 2}` }] } : { upstream: "blue" });
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => put(i)));
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses.join(",")}`);
  assert.equal(statuses.filter((s) => s === 412).length, 99);
  assert.equal(await fx.reader.revision(), start + 1);
});

test("parallel writes without If-Match all commit, each under its own revision", async () => {
  const start = await fx.reader.revision();
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) => request(fx.app).put(`/v1/routes/h${i}.example`).set(auth()).send({ upstream: "blue" })),
  );
  const revisions = results.map((r) => r.body.revision as number).sort((a, b) => a - b);
  assert.deepEqual(revisions, Array.from({ length: 40 }, (_, i) => start + i + 1));
});
