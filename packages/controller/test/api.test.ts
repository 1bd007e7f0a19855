import assert from "node:assert/strict";
import { describe, test } from "node:test";
import request from "supertest";
import { READ, WRITE, auth, fixturePerTest, unchanged, type Fixture } from "./fixture.js";

let fx: Fixture;
fixturePerTest(async (f) => void (fx = f));

const blue = { targets: [{ address: "127.0.0.1:9001" }, { address: "unix:/run/blue.sock", weight: 3 }], keepalive: 8 };
const green = { targets: [{ address: "127.0.0.1:9002" }] };

async function seed() {
  await request(fx.app).put("/v1/pools/blue").set(auth()).send(blue).expect(200, { revision: 1 });
  await request(fx.app).put("/v1/pools/green").set(auth()).send(green).expect(200, { revision: 2 });
  await request(fx.app).put("/v1/routes/demo.local").set(auth()).send({ upstream: "blue" }).expect(200, { revision: 3 });
}

describe("reads", () => {
  test("GET /v1/state returns the whole state with its revision as ETag", async () => {
    await seed();
    const res = await request(fx.app).get("/v1/state").set(auth(READ)).expect(200);
    assert.equal(res.headers.etag, '"3"');
    assert.deepEqual(res.body, {
      revision: 3,
      defaultUpstream: null,
      pools: { blue: { ...blue, targets: [{ address: "127.0.0.1:9001", weight: 1 }, blue.targets[1]] }, green: { targets: [{ address: "127.0.0.1:9002", weight: 1 }] } },
      routes: { "demo.local": { upstream: "blue" } },
    });
    await request(fx.app).get("/v1/state").set(auth(READ)).set("If-None-Match", '"3"').expect(304);
  });

  test("GET of a pool and a route returns it, and 404 JSON when absent", async () => {
    await seed();
    const pool = await request(fx.app).get("/v1/pools/green").set(auth(READ)).expect(200);
    assert.deepEqual(pool.body, { name: "green", targets: [{ address: "127.0.0.1:9002", weight: 1 }] });
    const route = await request(fx.app).get("/v1/routes/Demo.Local:8080").set(auth(READ)).expect(200);
    assert.deepEqual(route.body, { host: "demo.local", upstream: "blue" });
    const missing = await request(fx.app).get("/v1/pools/nope").set(auth(READ)).expect(404);
    assert.equal(missing.body.error, "not_found");
    await request(fx.app).get("/v1/routes/nope.example").set(auth(READ)).expect(404);
  });

  test("unknown paths get 404 JSON", async () => {
    const res = await request(fx.app).get("/v2/whatever").set(auth(READ)).expect(404);
    assert.equal(res.body.error, "not_found");
  });
});

describe("writes", () => {
  test("PUT and DELETE of pools and routes answer { revision } and change the state", async () => {
    await seed();
    await request(fx.app).put("/v1/routes/*.example.com").set(auth()).send({ rules: [{ path: "/api/", upstream: "green" }, { path: "/", upstream: { split: { blue: 90, green: 10 } } }] }).expect(200, { revision: 4 });
    await request(fx.app).delete("/v1/routes/demo.local").set(auth()).expect(200, { revision: 5 });
    await request(fx.app).put("/v1/default").set(auth()).send({ upstream: "unix:/run/app-2.sock" }).expect(200, { revision: 6 });
    const { state } = await fx.reader.snapshot();
    assert.deepEqual(Object.keys(state.routes), ["*.example.com"]);
    assert.equal(state.defaultUpstream, "unix:/run/app-2.sock");
    await request(fx.app).put("/v1/default").set(auth()).send({ upstream: null }).expect(200, { revision: 7 });
    assert.equal((await fx.reader.snapshot()).state.defaultUpstream, null);
  });

  test("a write with a matching If-Match succeeds and a stale one gets 412 without writing", async () => {
    await seed();
    await request(fx.app).put("/v1/routes/demo.local").set(auth()).set("If-Match", '"3"').send({ upstream: "green" }).expect(200, { revision: 4 });
    await unchanged(fx, async () => {
      const res = await request(fx.app).put("/v1/routes/demo.local").set(auth()).set("If-Match", '"3"').send({ upstream: "blue" }).expect(412);
      assert.equal(res.body.error, "precondition_failed");
      assert.equal(res.headers.etag, '"4"');
    });
  });

  test("deleting a pool that a route uses answers 409 naming the route", async () => {
    await seed();
    await unchanged(fx, async () => {
      const res = await request(fx.app).delete("/v1/pools/blue").set(auth()).expect(409);
      assert.equal(res.body.error, "conflict");
      assert.match(res.body.message, /route demo\.local/);
    });
    await request(fx.app).delete("/v1/pools/green").set(auth()).expect(200, { revision: 4 });
  });

  test("audit records who changed what, newest first", async () => {
    await seed();
    await request(fx.app).put("/v1/routes/demo.local").set(auth()).send({ upstream: "green" }).expect(200);
    const res = await request(fx.app).get("/v1/audit?limit=2").set(auth(READ)).expect(200);
    assert.equal(res.body.length, 2);
    const [latest, previous] = res.body;
    assert.deepEqual({ ...latest, at: undefined }, { revision: 4, at: undefined, actor: "ops", action: "route.put", target: "demo.local", before: { upstream: "blue" }, after: { upstream: "green" } });
    assert.ok(Math.abs(Date.parse(latest.at) - Date.now()) < 60_000, "at is an ISO time near now");
    assert.deepEqual([previous.revision, previous.action, previous.before, previous.after], [3, "route.put", null, { upstream: "blue" }]);
    await request(fx.app).get("/v1/audit?limit=0").set(auth(READ)).expect(400);
    await request(fx.app).get("/v1/audit?limit=abc").set(auth(READ)).expect(400);
    await request(fx.app).get("/v1/audit?limit=1001").set(auth(READ)).expect(400);
  });
});

describe("the seed's /_switch_upstream", () => {
  test("switches a host and answers in the seed's text format", async () => {
    await seed();
    const res = await request(fx.app).post("/_switch_upstream?host=demo.local&upstream=green").set(auth()).expect(200);
    assert.equal(res.text, "demo.local change upstream from blue to green\n");
    assert.match(res.headers["content-type"] ?? "", /text\/plain/);
    const direct = await request(fx.app).post("/_switch_upstream?host=demo.local&upstream=unix:/run/app-2.sock").set(auth()).expect(200);
    assert.equal(direct.text, "demo.local change upstream from green to unix:/run/app-2.sock\n");
    assert.equal((await fx.reader.snapshot()).state.routes["demo.local"]?.upstream, "unix:/run/app-2.sock");
  });

  test("without host switches the default upstream", async () => {
    await seed();
    const res = await request(fx.app).post("/_switch_upstream?upstream=blue").set(auth()).expect(200);
    assert.equal(res.text, "default change upstream from none to blue\n");
  });

  test("GET answers 405 with a usage line, and bad input changes nothing", async () => {
    await seed();
    await unchanged(fx, async () => {
      const get = await request(fx.app).get("/_switch_upstream?upstream=green").expect(405);
      assert.equal(get.body.error, "method_not_allowed");
      assert.match(get.body.message, /usage: curl -X POST/);
      assert.equal(get.headers.allow, "POST");
      const typo = await request(fx.app).post("/_switch_upstream?host=demo.local&upstream=127.0.0.0.:38888").set(auth()).expect(400);
      assert.equal(typo.body.field, "upstream");
      await request(fx.app).post("/_switch_upstream?host=demo.local").set(auth()).expect(400);
      await request(fx.app).post("/_switch_upstream?host=demo.local&upstream=nope").set(auth()).expect(400);
      await request(fx.app).post("/_switch_upstream?host=demo.local&upstream=a&upstream=b").set(auth()).expect(400);
      await request(fx.app).post("/_switch_upstream?host=demo.local&upstream=green").set(auth(READ)).expect(403);
      await request(fx.app).post("/_switch_upstream?host=demo.local&upstream=green").expect(401);
    });
  });
});

describe("errors", () => {
  const rejected: [string, (f: Fixture) => request.Test, number, string, string?][] = [
    ["invalid JSON", (f) => request(f.app).put("/v1/pools/x").set(auth()).set("Content-Type", "application/json").send('{"targets":'), 400, "invalid_json"],
    ["a validation failure names the field", (f) => request(f.app).put("/v1/pools/x").set(auth()).send({ targets: [{ address: "127.0.0.0.:38888" }] }), 400, "invalid", "targets.0.address"],
    ["an unknown field", (f) => request(f.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue", extra: 1 }), 400, "invalid", "extra"],
    ["a __proto__ key", (f) => request(f.app).put("/v1/routes/a.com").set(auth()).set("Content-Type", "application/json").send('{"upstream":"blue","__proto__":{"x":1}}'), 400, "invalid", "__proto__"],
    ["a split summing to 99", (f) => request(f.app).put("/v1/routes/a.com").set(auth()).send({ upstream: { split: { blue: 90, green: 9 } } }), 400, "invalid", "upstream.split"],
    ["a relative unix path", (f) => request(f.app).put("/v1/default").set(auth()).send({ upstream: "unix:relative.sock" }), 400, "invalid", "upstream"],
    ["a CRLF in a host", (f) => request(f.app).put("/v1/routes/a.com%0D%0AX-Evil:1").set(auth()).send({ upstream: "blue" }), 400, "invalid", "host"],
    ["'*' in the middle of a host", (f) => request(f.app).put("/v1/routes/a.*.com").set(auth()).send({ upstream: "blue" }), 400, "invalid", "host"],
    ["a glob in a pool name", (f) => request(f.app).put("/v1/pools/bl*e").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }), 400, "invalid", "name"],
    ["a route naming a missing pool", (f) => request(f.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "nope" }), 400, "invalid", "upstream"],
    ["a default naming a missing pool in a split", (f) => request(f.app).put("/v1/default").set(auth()).send({ upstream: { split: { blue: 50, nope: 50 } } }), 400, "invalid", "upstream"],
    ["no token", (f) => request(f.app).put("/v1/pools/x").send({ targets: [{ address: "127.0.0.1:1" }] }), 401, "unauthorized"],
    ["an unknown token", (f) => request(f.app).get("/v1/state").set(auth("not-a-real-token-at-all")), 401, "unauthorized"],
    ["a malformed Authorization header", (f) => request(f.app).get("/v1/state").set("Authorization", `Basic ${WRITE}`), 401, "unauthorized"],
    ["a read token on a write", (f) => request(f.app).put("/v1/pools/x").set(auth(READ)).send({ targets: [{ address: "127.0.0.1:1" }] }), 403, "forbidden"],
    ["a read token on a delete", (f) => request(f.app).delete("/v1/pools/blue").set(auth(READ)), 403, "forbidden"],
    ["deleting a missing route", (f) => request(f.app).delete("/v1/routes/nope.com").set(auth()), 404, "not_found"],
    ["deleting a missing pool", (f) => request(f.app).delete("/v1/pools/nope").set(auth()), 404, "not_found"],
    ["POST on a pool", (f) => request(f.app).post("/v1/pools/blue").set(auth()).send({}), 405, "method_not_allowed"],
    ["POST on the state", (f) => request(f.app).post("/v1/state").set(auth()).send({}), 405, "method_not_allowed"],
    ["GET on the default", (f) => request(f.app).get("/v1/default").set(auth()), 405, "method_not_allowed"],
    ["a stale If-Match", (f) => request(f.app).put("/v1/pools/blue").set(auth()).set("If-Match", '"1"').send(blue), 412, "precondition_failed"],
    ["a malformed If-Match", (f) => request(f.app).put("/v1/pools/blue").set(auth()).set("If-Match", "yesterday").send(blue), 400, "invalid", "If-Match"],
    ["a body over 64 KiB", (f) => request(f.app).put("/v1/pools/x").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }], pad: "x".repeat(70 * 1024) }), 413, "payload_too_large"],
    ["a body that is not JSON", (f) => request(f.app).put("/v1/pools/x").set(auth()).set("Content-Type", "text/plain").send("targets=1"), 415, "unsupported_media_type"],
    ["a PUT with no body", (f) => request(f.app).put("/v1/default").set(auth()), 415, "unsupported_media_type"],
  ];

  for (const [claim, send, status, code, field] of rejected) {
    test(`${claim} gets ${status} ${code} and changes nothing`, async () => {
      await seed();
      await unchanged(fx, async () => {
        const res = await send(fx);
        assert.equal(res.status, status, JSON.stringify(res.body));
        assert.match(res.headers["content-type"] ?? "", /application\/json/);
        assert.equal(res.body.error, code);
        assert.equal(typeof res.body.message, "string");
        if (field) assert.equal(res.body.field, field);
        assert.doesNotMatch(JSON.stringify(res.body), /at .*\.(ts|js):\d+/, "no stack trace");
        if (status === 401) assert.match(res.headers["www-authenticate"] ?? "", /Bearer/);
        if (status === 405) assert.ok(res.headers.allow);
      });
    });
  }
});

describe("health", () => {
  test("healthz and readyz need no token and readyz reflects Redis", async () => {
    await request(fx.app).get("/healthz").expect(200, { status: "ok" });
    await request(fx.app).get("/readyz").expect(200, { status: "ready" });
  });
});
