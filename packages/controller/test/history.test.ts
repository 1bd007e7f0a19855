import assert from "node:assert/strict";
import { describe, test } from "node:test";
import request from "supertest";
import { MIN_LOG_CAP, StoreWriter, type State } from "@switchyard/shared";
import { seededRandom, testSeed } from "@switchyard/testkit";
import { READ, auth, fixturePerTest, unchanged, type Fixture } from "./fixture.js";
import { fakeAgent } from "./fleet-helpers.js";

/** GET /v1/revisions, GET /v1/revisions/:rev and POST /v1/rollback, over the change log's undo records. */

let fx: Fixture;
const { server } = fixturePerTest(async (f) => void (fx = f));

const pool = (port: number) => ({ targets: [{ address: `127.0.0.1:${port}`, weight: 1 }] });
const plain = (s: State) => JSON.parse(JSON.stringify(s)) as State;

/** Revisions 1..5, and the state after each. */
async function seed(): Promise<State[]> {
  const states: State[] = [plain((await fx.reader.snapshot()).state)];
  const steps: [string, string, unknown][] = [
    ["put", "/v1/pools/blue", pool(9001)],
    ["put", "/v1/pools/green", pool(9002)],
    ["put", "/v1/routes/a.com", { upstream: "blue" }],
    ["put", "/v1/routes/a.com", { rules: [{ path: "/api/", upstream: "green" }] }],
    ["put", "/v1/default", { upstream: { split: { blue: 50, green: 50 } } }],
  ];
  for (const [method, path, body] of steps) {
    await (method === "put" ? request(fx.app).put(path) : request(fx.app).delete(path)).set(auth()).send(body as object).expect(200);
    states.push(plain((await fx.reader.snapshot()).state));
  }
  return states;
}

describe("GET /v1/revisions", () => {
  test("newest first with revision, time, actor and summary; limit and before page through", async () => {
    await seed();
    const all = (await request(fx.app).get("/v1/revisions").set(auth(READ)).expect(200)).body;
    assert.deepEqual(all.map((r: { revision: number }) => r.revision), [5, 4, 3, 2, 1]);
    assert.deepEqual(Object.keys(all[0]).sort(), ["actor", "at", "revision", "summary"]);
    assert.equal(all[0].actor, "ops");
    assert.equal(all[0].summary, "default.put");
    assert.equal(all[2].summary, "route.put a.com");
    assert.ok(Math.abs(Date.parse(all[0].at) - Date.now()) < 60_000);
    const page = (await request(fx.app).get("/v1/revisions?limit=2&before=4").set(auth(READ)).expect(200)).body;
    assert.deepEqual(page.map((r: { revision: number }) => r.revision), [3, 2]);
    assert.deepEqual((await request(fx.app).get("/v1/revisions?before=1").set(auth(READ)).expect(200)).body, []);
    for (const q of ["limit=0", "limit=1001", "limit=x", "before=0", "before=-1", "before=1.5"]) {
      const res = await request(fx.app).get(`/v1/revisions?${q}`).set(auth(READ)).expect(400);
      assert.equal(res.body.error, "invalid", q);
    }
  });

  test("GET /v1/revisions/:rev answers that change's ops and the values they replaced; 404 when not in the log", async () => {
    await seed();
    const res = await request(fx.app).get("/v1/revisions/4").set(auth(READ)).expect(200);
    assert.deepEqual(res.body.ops, [{ op: "route.put", host: "a.com", route: { rules: [{ path: "/api/", upstream: "green" }] } }]);
    assert.deepEqual(res.body.before, [{ upstream: "blue" }]);
    assert.equal(res.body.revision, 4);
    for (const rev of ["6", "999999"]) assert.equal((await request(fx.app).get(`/v1/revisions/${rev}`).set(auth(READ)).expect(404)).body.error, "not_found");
    assert.equal((await request(fx.app).get("/v1/revisions/x").set(auth(READ)).expect(400)).body.field, "rev");
  });
});

describe("POST /v1/rollback", () => {
  test("writes one new revision whose state equals the state at R, for every R the log reaches", async () => {
    const states = await seed();
    for (const to of [3, 0, 5, 1, 4, 2]) {
      const before = (await fx.reader.snapshot()).revision;
      const res = await request(fx.app).post("/v1/rollback").set(auth()).send({ to }).expect(200);
      const now = await fx.reader.snapshot();
      assert.deepEqual(plain(now.state), states[to], `rollback to ${to}`);
      if (res.body.changed) assert.equal(now.revision, before + 1, `one revision for rollback to ${to}`);
      else assert.equal(now.revision, before);
      assert.equal(res.body.revision, now.revision);
      assert.equal(res.body.rolledBackTo, to);
    }
  });

  test("is audited as a rollback: every audit record and the revision's summary say `rollback to R`", async () => {
    await seed();
    const res = await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 2 }).expect(200);
    assert.equal(res.body.revision, 6);
    assert.deepEqual(res.body.diff.map((d: { path: string }) => d.path), ["/defaultUpstream", "/routes/a.com"]);
    const audit = (await request(fx.app).get("/v1/audit?limit=10").set(auth(READ)).expect(200)).body.filter((a: { revision: number }) => a.revision === 6);
    assert.equal(audit.length, 2);
    for (const a of audit) {
      assert.equal(a.note, "rollback to 2");
      assert.equal(a.actor, "ops");
    }
    const [latest] = (await request(fx.app).get("/v1/revisions?limit=1").set(auth(READ)).expect(200)).body;
    assert.equal(latest.note, "rollback to 2");
    assert.match(latest.summary, /^rollback to 2: /);
  });

  test("rolling back to the current state writes nothing and says so", async () => {
    await seed();
    await request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue" }).expect(200);
    await unchanged(fx, async () => {
      const res = await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 6 }).expect(200);
      assert.deepEqual(res.body, { revision: 6, changed: false, diff: [], rolledBackTo: 6 });
    });
  });

  test("honours If-Match and ?wait=applied", async () => {
    await seed();
    await unchanged(fx, () => request(fx.app).post("/v1/rollback").set(auth()).set("If-Match", '"4"').send({ to: 3 }).expect(412));
    const agent = await fakeAgent(server().url, fx.keys, "edge-1", 2);
    try {
      const res = await request(fx.app).post("/v1/rollback?wait=applied&timeout=5000").set(auth()).set("If-Match", '"5"').send({ to: 3 }).expect(200);
      assert.equal(res.body.revision, 6);
      assert.equal(res.body.complete, true);
      assert.deepEqual(res.body.missing, []);
    } finally {
      agent.disconnect();
    }
  });

  test("409 history_trimmed once the change log no longer reaches back to R, and nothing is written", async () => {
    // A store whose log keeps the minimum: 1001 revisions push revision 1 out.
    const writer = new StoreWriter(fx.redis, fx.keys, MIN_LOG_CAP);
    await writer.write([{ op: "pool.put", name: "blue", pool: pool(1) }], { actor: "t" });
    for (let i = 0; i < MIN_LOG_CAP; i++) await writer.write([{ op: "route.put", host: "a.com", route: { upstream: i % 2 ? "blue" : "127.0.0.1:1" } }], { actor: "t" });
    const current = (await fx.reader.snapshot()).revision;
    assert.equal(current, MIN_LOG_CAP + 1);
    await unchanged(fx, async () => {
      const res = await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 0 }).expect(409);
      assert.equal(res.body.error, "history_trimmed");
      assert.equal(res.body.field, "to");
      assert.match(res.body.message, /revision 0 is out of reach: the change log starts at revision 2/);
    });
    // The oldest revision still reachable is the one just before the log's first entry.
    await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 1 }).expect(200);
    assert.deepEqual(plain((await fx.reader.snapshot()).state), { defaultUpstream: null, pools: { blue: pool(1) }, routes: {} });
    // Now the log starts at 3 (one more entry pushed 2 out): 1 is out of reach.
    assert.equal((await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 1 }).expect(409)).body.error, "history_trimmed");
  });

  test("409 history_trimmed when the state was changed outside the write script: never a state that was not the state at R", async () => {
    await seed();
    await fx.redis.hset(fx.keys.routes, "a.com", JSON.stringify({ upstream: "green" }));
    await unchanged(fx, async () => {
      const res = await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 2 }).expect(409);
      assert.equal(res.body.error, "history_trimmed");
      assert.match(res.body.message, /does not lead to the current state/);
    });
  });

  test("409 history_trimmed across a log entry written before undo records were kept", async () => {
    await seed();
    // The log as an older controller left it: revision 4's entry without its undo record.
    const entries = (await fx.redis.xrange(fx.keys.log, "-", "+")) as [string, string[]][];
    const m = fx.redis.multi().del(fx.keys.log);
    for (const [id, flat] of entries) {
      const fields = flat.slice();
      if (id === "4-0") fields.splice(fields.indexOf("undo"), 2);
      m.xadd(fx.keys.log, id, ...fields);
    }
    await m.exec();
    await unchanged(fx, async () => {
      const res = await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 3 }).expect(409);
      assert.match(res.body.message, /revision 4 was written before undo records were kept/);
    });
    await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 4 }).expect(200);
  });

  test("refuses bad bodies and a revision ahead of the current one", async () => {
    await seed();
    await unchanged(fx, async () => {
      for (const body of [{}, { to: -1 }, { to: "3" }, { to: 1.5 }, { to: 3, extra: 1 }]) {
        assert.equal((await request(fx.app).post("/v1/rollback").set(auth()).send(body).expect(400)).body.error, "invalid", JSON.stringify(body));
      }
      await request(fx.app).post("/v1/rollback").set(auth()).send({ to: 6 }).expect(400);
      await request(fx.app).post("/v1/rollback").set(auth(READ)).send({ to: 3 }).expect(403);
    });
  });

  test("random histories: a rollback to any reachable revision restores exactly the state recorded then", async () => {
    const seed = testSeed();
    const r = seededRandom(seed);
    const pools = ["blue", "green", "red"];
    const hosts = ["a.com", "b.com", "c.com"];
    const states: State[] = [plain((await fx.reader.snapshot()).state)];
    await request(fx.app).post("/v1/changes").set(auth()).send({ ops: pools.map((name, i) => ({ op: "pool.put", name, pool: pool(9000 + i) })) }).expect(200);
    states.push(plain((await fx.reader.snapshot()).state));
    for (let i = 0; i < 40; i++) {
      if (r.chance(0.25)) {
        const to = r.int(0, states.length - 1);
        const res = await request(fx.app).post("/v1/rollback").set(auth()).send({ to }).expect(200);
        if (res.body.changed) states.push(plain((await fx.reader.snapshot()).state));
        assert.deepEqual(plain((await fx.reader.snapshot()).state), states[to], `seed ${seed} (TEST_SEED replays it): rollback to ${to}`);
      } else {
        const ops = Array.from({ length: r.int(1, 3) }, () => {
          const k = r.int(0, 5);
          if (k < 3) return { op: "route.put", host: r.pick(hosts), route: { upstream: r.chance(0.3) ? { split: { blue: 30, [r.pick(["green", "red"])]: 70 } } : r.pick(pools) } };
          if (k < 4) return { op: "pool.put", name: r.pick(pools), pool: pool(r.int(1, 65535)) };
          if (k < 5) return { op: "route.del", host: r.pick(hosts) };
          return { op: "default.put", upstream: r.chance(0.5) ? null : r.pick(pools) };
        });
        const res = await request(fx.app).post("/v1/changes").set(auth()).send({ ops });
        if (res.status === 200) states.push(plain((await fx.reader.snapshot()).state));
      }
      assert.equal((await fx.reader.snapshot()).revision, states.length - 1, `seed ${seed}: one revision per accepted write`);
    }
    for (let to = 0; to < states.length; to++) {
      await request(fx.app).post("/v1/rollback").set(auth()).send({ to }).expect(200);
      assert.deepEqual(plain((await fx.reader.snapshot()).state), states[to], `seed ${seed}: rollback to ${to}`);
    }
  });
});
