import assert from "node:assert/strict";
import { describe, test } from "node:test";
import request from "supertest";
import { acceptedParameters } from "../src/http/query.js";
import { READ, auth, fixturePerTest, unchanged, type Fixture } from "./fixture.js";

/**
 * Every endpoint declares the query parameters it takes; any other one is refused with 400
 * unknown_parameter naming it, before anything is read or written. `?dryRun=true` once performed
 * a real write because unknown parameters were ignored; now writes take it (dry-run.test.ts), and
 * a misspelling of it (`?dry_run=true`, `?dryrun=true`) is refused everywhere.
 */

let fx: Fixture;
let cutoverId: string;
fixturePerTest(async (f) => {
  fx = f;
  for (const p of ["blue", "green"]) await request(fx.app).put(`/v1/pools/${p}`).set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
  await request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue" }).expect(200);
  const at = new Date(Date.now() + 3_600_000).toISOString();
  cutoverId = (await request(fx.app).post("/v1/cutovers").set(auth()).send({ host: "a.com", to: "green", at }).expect(202)).body.id;
});

type Send = (f: Fixture, q: string) => request.Test;
const endpoints: [string, Send][] = [
  ["GET /v1/state", (f, q) => request(f.app).get(`/v1/state${q}`).set(auth(READ))],
  ["GET /v1/audit", (f, q) => request(f.app).get(`/v1/audit${q}`).set(auth(READ))],
  ["GET /v1/agents", (f, q) => request(f.app).get(`/v1/agents${q}`).set(auth(READ))],
  ["GET /v1/pools/blue", (f, q) => request(f.app).get(`/v1/pools/blue${q}`).set(auth(READ))],
  ["PUT /v1/pools/red", (f, q) => request(f.app).put(`/v1/pools/red${q}`).set(auth()).send({ targets: [{ address: "127.0.0.1:2" }] })],
  ["DELETE /v1/pools/green", (f, q) => request(f.app).delete(`/v1/pools/green${q}`).set(auth())],
  ["GET /v1/routes/a.com", (f, q) => request(f.app).get(`/v1/routes/a.com${q}`).set(auth(READ))],
  ["PUT /v1/routes/x", (f, q) => request(f.app).put(`/v1/routes/x${q}`).set(auth()).send({ upstream: "blue" })],
  ["DELETE /v1/routes/a.com", (f, q) => request(f.app).delete(`/v1/routes/a.com${q}`).set(auth())],
  ["PUT /v1/default", (f, q) => request(f.app).put(`/v1/default${q}`).set(auth()).send({ upstream: "green" })],
  ["POST /_switch_upstream", (f, q) => request(f.app).post(`/_switch_upstream${q ? `${q}&` : "?"}host=a.com&upstream=green`).set(auth())],
  ["GET /healthz", (f, q) => request(f.app).get(`/healthz${q}`)],
  ["GET /readyz", (f, q) => request(f.app).get(`/readyz${q}`)],
  ["GET /v1/store/check", (f, q) => request(f.app).get(`/v1/store/check${q}`).set(auth(READ))],
  ["GET /v1/cutovers", (f, q) => request(f.app).get(`/v1/cutovers${q}`).set(auth(READ))],
  ["POST /v1/cutovers", (f, q) => request(f.app).post(`/v1/cutovers${q}`).set(auth()).send({ host: "b.com", to: "green", preflight: false })],
  ["GET /v1/cutovers/:id", (f, q) => request(f.app).get(`/v1/cutovers/${cutoverId}${q}`).set(auth(READ))],
  // Bounded: without the check this is an event stream that stays open for the scheduled hour.
  ["GET /v1/cutovers/:id/events (SSE)", (f, q) => request(f.app).get(`/v1/cutovers/${cutoverId}/events${q}`).set(auth(READ)).timeout(5000)],
  ["POST /v1/cutovers/:id/abort", (f, q) => request(f.app).post(`/v1/cutovers/${cutoverId}/abort${q}`).set(auth())],
  ["POST /v1/cutovers/:id/promote", (f, q) => request(f.app).post(`/v1/cutovers/${cutoverId}/promote${q}`).set(auth())],
  ["POST /v1/changes", (f, q) => request(f.app).post(`/v1/changes${q}`).set(auth()).send({ ops: [{ op: "route.del", host: "a.com" }] })],
  ["PUT /v1/state", (f, q) => request(f.app).put(`/v1/state${q}`).set(auth()).send({})],
  ["GET /v1/revisions", (f, q) => request(f.app).get(`/v1/revisions${q}`).set(auth(READ))],
  ["GET /v1/revisions/:rev", (f, q) => request(f.app).get(`/v1/revisions/1${q}`).set(auth(READ))],
  ["POST /v1/rollback", (f, q) => request(f.app).post(`/v1/rollback${q}`).set(auth()).send({ to: 1 })],
  ["GET /metrics", (f, q) => request(f.app).get(`/metrics${q}`).set(auth(READ))],
  ["GET /v1/openapi.json", (f, q) => request(f.app).get(`/v1/openapi.json${q}`)],
];

describe("unknown query parameters", () => {
  for (const [name, send] of endpoints) {
    test(`${name} refuses an unknown parameter with 400 unknown_parameter naming it, changing nothing`, async () => {
      const cutoverBefore = await fx.repo.get(cutoverId);
      await unchanged(fx, async () => {
        for (const q of ["?dry_run=true", "?dryrun=true", "?bogus", "?Wait=applied"]) {
          const res = await send(fx, q);
          assert.equal(res.status, 400, `${q}: ${res.status} ${res.text.slice(0, 200)}`);
          assert.match(res.headers["content-type"] ?? "", /application\/json/);
          assert.equal(res.body.error, "unknown_parameter");
          const param = q.slice(1).split("=")[0] as string;
          assert.equal(res.body.field, param);
          assert.match(res.body.message, new RegExp(`'${param}'`));
        }
      });
      assert.deepEqual(await fx.repo.get(cutoverId), cutoverBefore, "the cutover record is untouched too");
      assert.equal((await fx.repo.list()).length, 1, "no cutover was created");
    });
  }

  test("PUT /v1/routes/x?dryRun=true writes nothing (the audit's reproduction): it answers the diff instead", async () => {
    await unchanged(fx, async () => {
      const res = await request(fx.app).put("/v1/routes/x?dryRun=true").set(auth()).send({ upstream: "blue" }).expect(200);
      assert.equal(res.body.dryRun, true);
    });
    await request(fx.app).get("/v1/routes/x").set(auth(READ)).expect(404);
  });

  test("the parameters an endpoint declares still work", async () => {
    await request(fx.app).get("/v1/audit?limit=2").set(auth(READ)).expect(200);
    const waited = await request(fx.app).put("/v1/routes/x?wait=applied&timeout=100").set(auth()).send({ upstream: "blue" }).expect(200);
    assert.equal(waited.body.complete, true);
    await request(fx.app).delete("/v1/routes/x?wait=applied").set(auth()).expect(200);
    await request(fx.app).post("/_switch_upstream?host=a.com&upstream=green&wait=applied&timeout=100").set(auth()).expect(200);
    // A declared parameter with a bad value is `invalid`, not unknown.
    const bad = await request(fx.app).put("/v1/default?wait=soon").set(auth()).send({ upstream: null }).expect(400);
    assert.equal(bad.body.error, "invalid");
  });

  test("every method of every route declares its query parameters first, so none is ever ignored", () => {
    type Layer = { route?: { path: string; stack: { method?: string; handle: unknown }[] }; handle?: { stack?: Layer[] } };
    const seen: string[] = [];
    const walk = (stack: Layer[]) => {
      for (const layer of stack) {
        if (layer.handle?.stack) walk(layer.handle.stack);
        if (!layer.route) continue;
        const methods = new Set(layer.route.stack.map((l) => l.method).filter((m): m is string => m !== undefined));
        for (const method of methods) {
          const first = layer.route.stack.find((l) => l.method === method);
          assert.ok(acceptedParameters(first?.handle), `${method.toUpperCase()} ${layer.route.path} does not start with accepts(...)`);
          seen.push(`${method} ${layer.route.path}`);
        }
      }
    };
    walk((fx.app as unknown as { router: { stack: Layer[] } }).router.stack);
    assert.ok(seen.length >= endpoints.length, `walked ${seen.length} endpoints: ${seen.join(", ")}`);
  });
});
