import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsPlugin from "ajv-formats";
import request from "supertest";
import { acceptedParameters } from "../src/http/query.js";
import { documentedQuery } from "../src/http/openapi/document.js";
import { READ, auth, fixturePerTest, type Fixture } from "./fixture.js";

/**
 * GET /v1/openapi.json: OpenAPI 3.1, unauthenticated, generated from the zod schemas. It names
 * every live route with exactly the query parameters the route declares, and real answers of a
 * representative set of calls (successes, dry runs and errors) validate against it (ajv, 2020-12).
 */

let fx: Fixture;
fixturePerTest(async (f) => void (fx = f));

type Doc = { openapi: string; paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>>; components: { schemas: Record<string, object> } };
const fetchDoc = async () => (await request(fx.app).get("/v1/openapi.json").expect(200)).body as Doc;

/** Checks an answer against the document: the operation's schema for its status (else `default`). */
// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsPlugin as unknown as { default?: typeof addFormatsPlugin }).default ?? addFormatsPlugin) as unknown as (ajv: Ajv2020) => Ajv2020;
const newAjv = (allErrors = false) => addFormats(new Ajv2020({ strict: false, allErrors }));

function checker(doc: Doc) {
  const ajv = newAjv(true);
  return (path: string, method: string, res: request.Response) => {
    const op = doc.paths[path]?.[method];
    assert.ok(op, `${method.toUpperCase()} ${path} is in the document`);
    const answer = op.responses[String(res.status)] ?? op.responses.default;
    assert.ok(answer, `${method} ${path} documents status ${res.status}`);
    const type = (res.headers["content-type"] ?? "").split(";")[0] as string;
    const schema = answer.content?.[type]?.schema;
    assert.ok(schema, `${method} ${path} ${res.status} documents ${type}`);
    const validate = ajv.compile({ ...schema, components: doc.components });
    const body = type === "application/json" ? res.body : res.text;
    assert.ok(validate(body), `${method.toUpperCase()} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
  };
}

describe("GET /v1/openapi.json", () => {
  test("is OpenAPI 3.1, needs no token, and every component schema compiles", async () => {
    const doc = await fetchDoc();
    assert.equal(doc.openapi, "3.1.0");
    const ajv = newAjv();
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      assert.doesNotThrow(() => ajv.compile({ ...schema, components: doc.components }), name);
    }
    assert.ok(doc.components.schemas.ApiError);
  });

  test("documents every route and method with exactly the query parameters the route accepts, and nothing else", async () => {
    type Layer = { route?: { path: string; stack: { method?: string; handle: unknown }[] }; handle?: { stack?: Layer[] } };
    const live = new Map<string, string[]>();
    const walk = (stack: Layer[]) => {
      for (const layer of stack) {
        if (layer.handle?.stack) walk(layer.handle.stack);
        if (!layer.route) continue;
        for (const l of layer.route.stack) {
          if (!l.method || l.method === "_all") continue;
          const key = `${l.method.toUpperCase()} ${layer.route.path}`;
          const params = acceptedParameters(l.handle);
          if (params && !live.has(key)) live.set(key, [...params].sort());
        }
      }
    };
    walk((fx.app as unknown as { router: { stack: Layer[] } }).router.stack);
    const documented = new Map([...documentedQuery()].map(([k, v]) => [k, [...v].sort()]));
    assert.deepEqual([...live.keys()].sort(), [...documented.keys()].sort());
    for (const [key, params] of live) assert.deepEqual(documented.get(key), params, key);
    // The served document is built from the same table.
    const doc = await fetchDoc();
    const params = doc.paths["/v1/revisions"]?.get as unknown as { parameters: { name: string }[] };
    assert.deepEqual(params.parameters.map((p) => p.name).sort(), ["before", "limit"]);
  });

  test("real answers validate against the document: reads, writes, dry runs, batches, rollback, cutovers and errors", async () => {
    const check = checker(await fetchDoc());
    const pool = { targets: [{ address: "127.0.0.1:9001" }], keepalive: 4 };
    const call = async (path: string, method: "get" | "put" | "post" | "delete", send: request.Test) => {
      const res = await send;
      check(path, method, res);
      return res;
    };
    const app = fx.app;
    await call("/healthz", "get", request(app).get("/healthz"));
    await call("/v1/pools/{name}", "put", request(app).put("/v1/pools/blue").set(auth()).send(pool));
    await call("/v1/pools/{name}", "put", request(app).put("/v1/pools/green?wait=applied&timeout=50").set(auth()).send(pool));
    await call("/v1/routes/{host}", "put", request(app).put("/v1/routes/a.com").set(auth()).send({ rules: [{ path: "/api/", upstream: { split: { blue: 50, green: 50 } } }] }));
    await call("/v1/default", "put", request(app).put("/v1/default?dryRun=true").set(auth()).send({ upstream: "blue" }));
    await call("/v1/state", "get", request(app).get("/v1/state").set(auth(READ)));
    await call("/v1/pools/{name}", "get", request(app).get("/v1/pools/blue").set(auth(READ)));
    await call("/v1/routes/{host}", "get", request(app).get("/v1/routes/a.com").set(auth(READ)));
    await call("/v1/changes", "post", request(app).post("/v1/changes").set(auth()).send({ ops: [{ op: "route.put", host: "b.com", route: { upstream: "green" } }, { op: "default.put", upstream: null }] }));
    await call("/v1/state", "put", request(app).put("/v1/state?prune=false").set(auth()).send({ routes: { "c.com": { upstream: "blue" } } }));
    await call("/v1/rollback", "post", request(app).post("/v1/rollback").set(auth()).send({ to: 3 }));
    await call("/v1/revisions", "get", request(app).get("/v1/revisions?limit=5").set(auth(READ)));
    await call("/v1/revisions/{rev}", "get", request(app).get("/v1/revisions/6").set(auth(READ)));
    await call("/v1/audit", "get", request(app).get("/v1/audit").set(auth(READ)));
    const now = Date.now();
    const health = [{ pool: "blue", panic: false, targets: [{ address: "127.0.0.1:1", state: "ejected", since: now, lastError: "connect ECONNREFUSED" }] }];
    const record = { id: "edge-1", epoch: await fx.redis.get(fx.keys.epoch), revision: 1, appliedAt: now, startedAt: now, version: "test", address: "127.0.0.2:8080", seenAt: now, health };
    await fx.redis.multi().set(fx.keys.agent("edge-1"), JSON.stringify(record), "PX", 5000).zadd(fx.keys.agents, now + 5000, "edge-1").exec();
    await call("/v1/agents", "get", request(app).get("/v1/agents").set(auth(READ)));
    const seen = await call("/v1/pools/{name}/health", "get", request(app).get("/v1/pools/blue/health").set(auth(READ)));
    assert.equal(seen.body[0]?.targets[0]?.state, "ejected");
    await call("/_switch_upstream", "post", request(app).post("/_switch_upstream?host=a.com&upstream=green").set(auth()));
    await call("/_switch_upstream", "post", request(app).post("/_switch_upstream?host=a.com&upstream=blue=90,green=10").set(auth()).set("Accept", "application/json"));
    const created = await call("/v1/cutovers", "post", request(app).post("/v1/cutovers").set(auth()).send({ host: "a.com", to: "green", at: new Date(Date.now() + 3_600_000).toISOString() }));
    await call("/v1/cutovers", "post", request(app).post("/v1/cutovers?dryRun=true").set(auth()).send({ host: "b.com", to: "blue", strategy: { canary: { steps: [10, 100], interval: "1m" } }, preflight: false }));
    await call("/v1/cutovers/{id}", "get", request(app).get(`/v1/cutovers/${created.body.id}`).set(auth(READ)));
    await call("/v1/cutovers", "get", request(app).get("/v1/cutovers").set(auth(READ)));
    await call("/v1/cutovers/{id}/abort", "post", request(app).post(`/v1/cutovers/${created.body.id}/abort`).set(auth()));
    // Errors: every one the same shape.
    await call("/v1/state", "get", request(app).get("/v1/state"));
    await call("/v1/state", "get", request(app).get("/v1/state?bogus=1").set(auth(READ)));
    await call("/v1/pools/{name}", "get", request(app).get("/v1/pools/nope").set(auth(READ)));
    await call("/v1/pools/{name}", "delete", request(app).delete("/v1/pools/blue").set(auth()));
    await call("/v1/routes/{host}", "put", request(app).put("/v1/routes/a.com").set(auth(READ)).send({ upstream: "blue" }));
    await call("/v1/default", "put", request(app).put("/v1/default").set(auth()).set("If-Match", '"1"').send({ upstream: "blue" }));
    await call("/_switch_upstream", "post", request(app).post("/_switch_upstream?host=typo.com&upstream=blue").set(auth()));
    await call("/v1/rollback", "post", request(app).post("/v1/rollback").set(auth()).send({ to: 99 }));
    await call("/v1/changes", "post", request(app).post("/v1/changes").set(auth()).set("Content-Type", "text/plain").send("x"));
    // The store's health: ready, then an invalid entry (the check runs fresh and primes readiness and writes).
    await call("/readyz", "get", request(app).get("/readyz").expect(200));
    await call("/v1/store/check", "get", request(app).get("/v1/store/check").set(auth(READ)).expect(200));
    await fx.redis.hset(fx.keys.routes, "bad.local", "{not json");
    await call("/v1/store/check", "get", request(app).get("/v1/store/check").set(auth(READ)).expect(200));
    await call("/readyz", "get", request(app).get("/readyz").expect(503));
    await call("/v1/routes/{host}", "put", request(app).put("/v1/routes/z.com").set(auth()).send({ upstream: "blue" }).expect(503));
    await fx.redis.hdel(fx.keys.routes, "bad.local");
  });
});
