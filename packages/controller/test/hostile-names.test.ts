import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import request from "supertest";
import { waitFor } from "@switchyard/testkit";
import { runCutover } from "../src/cutover/runner.js";
import { READ, auth, fixturePerTest, unchanged, type Fixture } from "./fixture.js";

/**
 * Hosts and pool names that are also names of Object.prototype members. `__proto__` is refused
 * everywhere a host enters (an accepted one once froze the fleet); every other such name is an
 * ordinary DNS label or pool name and works end to end.
 */

let fx: Fixture;
fixturePerTest(async (f) => {
  fx = f;
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
});

const TRICKY_HOSTS = ["constructor", "toString", "hasOwnProperty", "valueOf", "prototype"];
const TRICKY_POOLS = ["constructor", "prototype", "tostring", "valueof", "hasownproperty"];
const pool = { targets: [{ address: "127.0.0.1:2", weight: 1 }] };

describe("__proto__ as a host", () => {
  const refused: [string, (f: Fixture) => request.Test, string][] = [
    ["PUT /v1/routes/__proto__", (f) => request(f.app).put("/v1/routes/__proto__").set(auth()).send({ upstream: "blue" }), "host"],
    ["PUT /v1/routes/__PROTO__:80", (f) => request(f.app).put("/v1/routes/__PROTO__:80").set(auth()).send({ upstream: "blue" }), "host"],
    ["PUT /v1/routes/*.__proto__", (f) => request(f.app).put("/v1/routes/*.__proto__").set(auth()).send({ upstream: "blue" }), "host"],
    ["DELETE /v1/routes/__proto__", (f) => request(f.app).delete("/v1/routes/__proto__").set(auth()), "host"],
    ["GET /v1/routes/__proto__", (f) => request(f.app).get("/v1/routes/__proto__").set(auth(READ)), "host"],
    ["the seed's ?host=__proto__", (f) => request(f.app).post("/_switch_upstream?host=__proto__&upstream=blue").set(auth()), "host"],
    ["a cutover of host __proto__", (f) => request(f.app).post("/v1/cutovers").set(auth()).send({ host: "__proto__", to: "blue", preflight: false }), "host"],
    ["a cutover naming __proto__ in hosts", (f) => request(f.app).post("/v1/cutovers").set(auth()).send({ hosts: ["a.com", "__proto__"], to: "blue" }), "hosts.1"],
  ];
  for (const [claim, send, field] of refused) {
    test(`${claim} gets 400 invalid naming ${field} and changes nothing`, async () => {
      await unchanged(fx, async () => {
        const res = await send(fx);
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error, "invalid");
        assert.equal(res.body.field, field);
        assert.match(res.body.message, /__proto__/);
      });
    });
  }
});

describe("names of Object.prototype members are ordinary names", () => {
  test("pools, routes, splits and the default named constructor, toString, hasOwnProperty, valueOf, prototype work end to end", async () => {
    for (const p of TRICKY_POOLS) await request(fx.app).put(`/v1/pools/${p}`).set(auth()).send(pool).expect(200);
    for (const h of TRICKY_HOSTS) {
      await request(fx.app).put(`/v1/routes/${h}`).set(auth()).send({ upstream: { split: { constructor: 50, prototype: 50 } } }).expect(200);
    }
    await request(fx.app).put("/v1/routes/rules.example").set(auth()).send({ rules: [{ path: "/constructor", upstream: "valueof" }] }).expect(200);
    await request(fx.app).put("/v1/default").set(auth()).send({ upstream: "tostring" }).expect(200);

    const state = (await request(fx.app).get("/v1/state").set(auth(READ)).expect(200)).body;
    assert.deepEqual(Object.keys(state.pools).sort(), ["blue", ...TRICKY_POOLS].sort());
    assert.deepEqual(Object.keys(state.routes).sort(), [...TRICKY_HOSTS.map((h) => h.toLowerCase()), "rules.example"].sort());
    assert.deepEqual(state.routes.constructor, { upstream: { split: { constructor: 50, prototype: 50 } } });
    assert.equal(state.defaultUpstream, "tostring");
    for (const h of TRICKY_HOSTS) {
      const got = await request(fx.app).get(`/v1/routes/${h}`).set(auth(READ)).expect(200);
      assert.equal(got.body.host, h.toLowerCase());
    }
    for (const p of TRICKY_POOLS) assert.equal((await request(fx.app).get(`/v1/pools/${p}`).set(auth(READ)).expect(200)).body.name, p);

    // Nobody created these: Object.prototype's members must not answer for them.
    await request(fx.app).get("/v1/routes/isPrototypeOf").set(auth(READ)).expect(404);
    await request(fx.app).get("/v1/pools/isprototypeof").set(auth(READ)).expect(404);
    await request(fx.app).delete("/v1/routes/propertyisenumerable").set(auth()).expect(404);

    // Pools in use are refused by name, then everything can be taken down again.
    const busy = await request(fx.app).delete("/v1/pools/constructor").set(auth()).expect(409);
    assert.match(busy.body.message, /route constructor/);
    for (const h of TRICKY_HOSTS) await request(fx.app).delete(`/v1/routes/${h}`).set(auth()).expect(200);
    await request(fx.app).put("/v1/default").set(auth()).send({ upstream: null }).expect(200);
    await request(fx.app).delete("/v1/routes/rules.example").set(auth()).expect(200);
    for (const p of TRICKY_POOLS) await request(fx.app).delete(`/v1/pools/${p}`).set(auth()).expect(200);
    const empty = (await request(fx.app).get("/v1/state").set(auth(READ)).expect(200)).body;
    assert.deepEqual([Object.keys(empty.pools), Object.keys(empty.routes)], [["blue"], []]);
  });

  test("the seed's switch works for a host named constructor", async () => {
    const res = await request(fx.app).post("/_switch_upstream?host=constructor&upstream=blue&create=true").set(auth()).expect(200);
    assert.equal(res.text, "constructor change upstream from none to blue\n");
  });

  test("an aborted cutover of a host named constructor that had no route puts back no route", async () => {
    await request(fx.app).put("/v1/pools/green").set(auth()).send(pool).expect(200);
    const { body } = await request(fx.app).post("/v1/cutovers").set(auth())
      .send({ host: "constructor", to: "green", preflight: false, bake: "60s", ackTimeout: "1s" }).expect(202);
    const created = (await request(fx.app).get(`/v1/cutovers/${body.id}`).set(auth(READ)).expect(200)).body;
    assert.deepEqual(created.from, { constructor: null });
    const deps = { repo: fx.repo, reader: fx.reader, writer: fx.writer, redis: fx.redis, keys: fx.keys, acks: fx.acks, log: pino({ level: "silent" }), workerId: "t", sampleMs: 50 };
    const run = runCutover(body.id, deps);
    await waitFor(async () => (await fx.repo.get(body.id))?.state === "baking", { what: "the cutover baking", timeoutMs: 10_000 });
    assert.deepEqual((await fx.reader.snapshot()).state.routes.constructor, { upstream: "green" });
    await request(fx.app).post(`/v1/cutovers/${body.id}/abort`).set(auth()).expect(202);
    assert.equal(await run, "aborted");
    assert.equal(Object.hasOwn((await fx.reader.snapshot()).state.routes, "constructor"), false, "the route it did not have is gone again");
    // The restore is a valid change an agent can apply: a delete, not a put of something else.
    const log = await fx.reader.changesSince(0, fx.writer.epoch);
    assert.equal(log.kind, "changes");
    assert.deepEqual(log.kind === "changes" ? log.changes.at(-1)?.ops : [], [{ op: "route.del", host: "constructor" }]);
  });
});
