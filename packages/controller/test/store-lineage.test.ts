import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import request from "supertest";
import { pino } from "pino";
import { StoreLineage, type State } from "@switchyard/shared";
import { startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { LineageGuard } from "../src/fleet/lineage-guard.js";
import { READ, auth, makeFixture, readyRedis, type Fixture } from "./fixture.js";
import { heartbeat } from "./fleet-helpers.js";

let server: RedisHandle;
const fixtures: Fixture[] = [];

before(async () => {
  server = await startRedis();
});
after(async () => {
  for (const f of fixtures) await f.close();
  await server.stop();
});

async function fixture(): Promise<Fixture> {
  const fx = makeFixture(server);
  fixtures.push(fx);
  await readyRedis(fx.redis);
  return fx;
}

const blue = { targets: [{ address: "127.0.0.1:1", weight: 1 }] };
const stateWith = (hosts: string[]): State => ({
  defaultUpstream: "blue",
  pools: Object.assign(Object.create(null), { blue }),
  routes: Object.assign(Object.create(null), Object.fromEntries(hosts.map((h) => [h, { upstream: "blue" }]))),
});

/** Everything but the agents' offers and records: what a restart-empty or FLUSHALL takes away. */
async function loseStore(fx: Fixture): Promise<void> {
  const k = fx.keys;
  await fx.redis.del(k.epoch, k.rev, k.default, k.pools, k.routes, k.refcount, k.routeRefs, k.log, k.audit);
}

test("POST /v1/store/init needs a write token and ?confirm=true, and refuses an initialised store", async () => {
  const fx = await fixture();
  await request(fx.app).put("/v1/pools/blue").set(auth()).send(blue).expect(200);
  await request(fx.app).post("/v1/store/init?confirm=true").set(auth(READ)).expect(403);
  const bare = await request(fx.app).post("/v1/store/init").set(auth()).expect(400);
  assert.equal(bare.body.error, "confirmation_required");
  await request(fx.app).post("/v1/store/init?confirm=maybe").set(auth()).expect(400);
  const live = await request(fx.app).post("/v1/store/init?confirm=true").set(auth()).expect(409);
  assert.equal(live.body.error, "store_initialized");
  assert.equal((await fx.reader.snapshot()).revision, 1, "nothing changed");
});

test("a write on a store that lost its lineage answers 503 store_uninitialized; an explicit init starts a new lineage", async () => {
  const fx = await fixture();
  const first = await fx.writer.write([{ op: "pool.put", name: "blue", pool: blue }], { actor: "t" });
  await loseStore(fx);
  const res = await request(fx.app).put("/v1/pools/blue").set(auth()).send(blue).expect(503);
  assert.deepEqual(Object.keys(res.body).sort(), ["error", "message"]);
  assert.equal(res.body.error, "store_uninitialized");
  assert.equal(await fx.redis.exists(fx.keys.pools), 0, "nothing written");
  const init = await request(fx.app).post("/v1/store/init?confirm=true").set(auth()).expect(200);
  assert.notEqual(init.body.epoch, first.epoch);
  assert.equal(init.body.revision, 0);
  await request(fx.app).put("/v1/pools/blue").set(auth()).send(blue).expect(200, { revision: 1 });
  const audit = await fx.reader.audit(5);
  assert.ok(audit.some((a) => a.action === "store.init" && a.actor === "ops"), "the fresh start is audited");
});

test("the guard restores the newest offer (newest lineage, highest revision) once, audited with the agent's id", async () => {
  const fx = await fixture();
  const { epoch } = await fx.writer.write([{ op: "pool.put", name: "blue", pool: blue }], { actor: "t" });
  await loseStore(fx);
  const lineage = new StoreLineage(fx.redis, fx.keys);
  const older = "000000000001-00000000";
  assert.equal(await lineage.offer({ agent: "edge-old", epoch: older, revision: 90, at: 1, state: stateWith(["old.local"]) }), true);
  assert.equal(await lineage.offer({ agent: "edge-a", epoch, revision: 6, at: 1, state: stateWith(["a.local"]) }), true);
  assert.equal(await lineage.offer({ agent: "edge-b", epoch, revision: 7, at: 1, state: stateWith(["a.local", "b.local"]) }), true);
  const log = pino({ level: "silent" });
  const guards = [0, 1].map(() => new LineageGuard({ redis: fx.redis, keys: fx.keys, reader: fx.reader, writer: fx.writer, lineage, log, intervalMs: 60_000, gatherMs: 100 }));
  const t0 = Date.now();
  await Promise.all(guards.map((g) => g.tick(t0)));
  assert.equal((await fx.reader.head()).epoch, null, "still gathering offers");
  await Promise.all(guards.map((g) => g.tick(t0 + 150)));
  const snap = await fx.reader.snapshot();
  assert.deepEqual([snap.epoch, snap.revision, Object.keys(snap.state.routes).sort()], [epoch, 7, ["a.local", "b.local"]]);
  const restores = (await fx.reader.audit(10)).filter((a) => a.action === "store.restore");
  assert.equal(restores.length, 1, "exactly one restore wins");
  assert.equal(restores[0]?.target, "edge-b");
  assert.equal(await fx.redis.exists(fx.keys.offers), 0);
  // Reference counts are rebuilt: the pool in use cannot be deleted.
  await request(fx.app).delete("/v1/pools/blue").set(auth()).expect(409);
  await request(fx.app).put("/v1/routes/c.local").set(auth()).send({ upstream: "blue" }).expect(200, { revision: 8 });
  assert.equal(await lineage.offer({ agent: "late", epoch, revision: 7, at: 1, state: stateWith([]) }), false, "no offer lands on an initialised store");
});

test("GET /v1/agents shows each agent's epoch, and ?wait=applied never counts an agent on another lineage", async () => {
  const fx = await fixture();
  const { epoch } = await fx.writer.write([{ op: "pool.put", name: "blue", pool: blue }], { actor: "t" });
  await heartbeat(fx.redis, fx.keys, "edge-same", 1, 5000, epoch);
  await heartbeat(fx.redis, fx.keys, "edge-other", 5, 5000, "000000000001-00000000");
  const agents = (await request(fx.app).get("/v1/agents").set(auth(READ)).expect(200)).body as { id: string; epoch: string; lag: number | null; inSync: boolean }[];
  assert.deepEqual(agents.map((a) => [a.id, a.epoch, a.lag, a.inSync]), [["edge-other", "000000000001-00000000", null, false], ["edge-same", epoch, 0, true]]);
  // Revision 2; a record of another lineage at revision 2 is not an apply of it.
  const wait = request(fx.app).put("/v1/routes/a.local?wait=applied&timeout=1500").set(auth()).send({ upstream: "blue" });
  const pending = wait.then((r) => r);
  await waitFor(async () => (await fx.reader.revision()) === 2, { what: "revision 2" });
  await heartbeat(fx.redis, fx.keys, "edge-other", 2, 5000, "000000000001-00000000");
  await heartbeat(fx.redis, fx.keys, "edge-same", 2, 5000, epoch);
  const res = await pending;
  assert.equal(res.status, 200);
  assert.equal(res.body.complete, false);
  assert.deepEqual(res.body.missing, ["edge-other"]);
});
