import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { AgentRecord, MIN_LOG_CAP, PROTOCOL_VERSION, StoreReader } from "@switchyard/shared";
import { randomPrefix, startRedis, waitFor, type RedisHandle, readyClient } from "@switchyard/testkit";
import { pino } from "pino";
import { SyncEngine } from "../src/sync/sync.js";
import { makeSync, putPool, putRoute, type SyncFixture } from "./sync-fixture.js";

let server: RedisHandle;
let redis: Redis;
const running: SyncFixture[] = [];

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterEach(async () => {
  for (const f of running.splice(0)) await f.stop();
});
after(async () => {
  redis.disconnect();
  await server.stop();
});

async function started(id?: string) {
  const f = makeSync(server, redis, { id });
  running.push(f);
  await f.start();
  await waitFor(() => f.sync.status().initialized, { what: "first table" });
  return f;
}

const at = (f: SyncFixture, rev: number) => waitFor(() => f.current()?.revision === rev, { what: `revision ${rev}`, timeoutMs: 8000 });

describe("push sync", () => {
  test("applies a published change and acks it with a heartbeat record", async () => {
    const f = await started("agent-a");
    const acks: unknown[] = [];
    const sub = await readyClient(server.url);
    sub.on("message", (_c, raw) => acks.push(JSON.parse(raw)));
    await sub.subscribe(f.keys.acks);
    try {
      await f.writer.write([putPool("blue"), putRoute("a.com", "blue")], { actor: "t" });
      await at(f, 1);
      // Routes are a null-prototype object (shared dict.ts); compare the entries.
      assert.deepEqual({ ...f.current()?.state.routes }, { "a.com": { upstream: "blue" } });
      await waitFor(() => acks.length > 0, { what: "ack" });
      assert.deepEqual({ ...(acks[0] as object), appliedAt: 0 }, { v: PROTOCOL_VERSION, agent: "agent-a", epoch: f.writer.epoch, revision: 1, appliedAt: 0 });
      const record = JSON.parse((await redis.get(f.keys.agent("agent-a"))) ?? "{}");
      assert.equal(record.revision, 1);
      assert.equal(record.id, "agent-a");
      const ttl = await redis.pttl(f.keys.agent("agent-a"));
      assert.ok(ttl > 0 && ttl <= 6000, `ttl ${ttl}`);
    } finally {
      sub.disconnect();
    }
  });

  test("ignores a duplicate and an old revision", async () => {
    const f = await started();
    await f.writer.write([putPool("blue"), putRoute("a.com", "blue")], { actor: "t" });
    await f.writer.write([putRoute("a.com", "127.0.0.1:2")], { actor: "t" });
    await at(f, 2);
    const before = f.installs.length;
    const forged = (rev: number) => JSON.stringify({ v: 2, epoch: f.writer.epoch, rev, at: Date.now(), actor: "x", ops: [{ op: "route.put", host: "a.com", route: { upstream: "127.0.0.1:9" } }] });
    await redis.publish(f.keys.changes, forged(2));
    await redis.publish(f.keys.changes, forged(1));
    await f.writer.write([putRoute("b.com", "blue")], { actor: "t" });
    await at(f, 3);
    assert.equal(f.installs.length, before + 1, "only revision 3 was installed");
    assert.equal(f.current()?.state.routes["a.com"]?.upstream, "127.0.0.1:2");
  });

  test("after CLIENT KILL TYPE pubsub it resubscribes and applies the writes made meanwhile", async () => {
    const f = await started();
    await f.writer.write([putPool("blue")], { actor: "t" });
    await at(f, 1);
    const downs = f.downs.length;
    await redis.client("KILL", "TYPE", "pubsub");
    for (let i = 0; i < 5; i++) await f.writer.write([putRoute(`h${i}.com`, "blue")], { actor: "t" });
    await at(f, 6);
    assert.ok(f.downs.length > downs, "the link noticed the kill");
    assert.equal(Object.keys(f.current()?.state.routes ?? {}).length, 5);
    await waitFor(() => f.sync.status().redis === "connected", { what: "reconnected" });
  });

  test("rejects an invalid snapshot and keeps its table", async () => {
    const f = await started();
    await f.writer.write([putPool("blue"), putRoute("a.com", "blue")], { actor: "t" });
    await at(f, 1);
    await redis.multi().hset(f.keys.pools, "blue", '{"targets":[{"address":"127.0.0.0.:38888"}]}').set(f.keys.rev, 5).exec();
    f.sync.resync();
    await waitFor(() => f.sync.status().lastError, { what: "an error" });
    assert.match(f.sync.status().lastError ?? "", /not a valid IPv4/);
    assert.equal(f.current()?.revision, 1);
    assert.equal(f.sync.status().revision, 1);
  });

  test("does not install a state the table compiler refuses", async () => {
    const f = await started();
    await f.writer.write([putPool("blue")], { actor: "t" });
    await at(f, 1);
    await f.writer.write([putRoute("reject.example", "blue")], { actor: "t" });
    await waitFor(() => f.sync.status().lastError, { what: "an error" });
    assert.equal(f.current()?.revision, 1);
  });

  test("nacks a revision it refuses in its record (rejected: revision and reason), and drops the nack once a later revision applies", async () => {
    const f = await started("agent-n");
    const record = async () => AgentRecord.parse(JSON.parse((await redis.get(f.keys.agent("agent-n"))) ?? "null"));
    await f.writer.write([putPool("blue")], { actor: "t" });
    await at(f, 1);
    await f.writer.write([putRoute("reject.example", "blue")], { actor: "t" });
    await waitFor(async () => (await record()).rejected?.revision === 2, { what: "nack of revision 2 in the record" });
    assert.match((await record()).rejected?.reason ?? "", /^snapshot at revision 2 rejected: compile refused this state/);
    assert.deepEqual(f.sync.status().rejected, (await record()).rejected);
    assert.equal((await record()).revision, 1);

    await f.writer.write([{ op: "route.del", host: "reject.example" }], { actor: "t" });
    await at(f, 3);
    await waitFor(async () => (await record()).revision === 3, { what: "revision 3 in the record" });
    assert.equal((await record()).rejected, undefined);
    assert.equal(f.sync.status().rejected, null);
  });

  test("nacks a change message that does not apply to the store's state (a route naming no pool)", async () => {
    const f = await started();
    await f.writer.write([putPool("blue")], { actor: "t" });
    await at(f, 1);
    const forged = { v: 2, epoch: f.writer.epoch, rev: 2, at: Date.now(), actor: "x", ops: [{ op: "route.put", host: "a.com", route: { upstream: "ghost" } }] };
    await redis.publish(f.keys.changes, JSON.stringify(forged));
    await waitFor(() => f.sync.status().rejected?.revision === 2, { what: "nack of revision 2" });
    assert.match(f.sync.status().rejected?.reason ?? "", /^revision 2 rejected: .*unknown pool 'ghost'/);
    assert.equal(f.current()?.revision, 1);
    // The real revision 2 applies and clears it.
    await f.writer.write([putRoute("a.com", "blue")], { actor: "t" });
    await at(f, 2);
    assert.equal(f.sync.status().rejected, null);
  });
});

describe("gap repair (engine driven directly)", () => {
  // The fixture's link is never started: these tests feed the engine themselves.
  function engine({ keys, link }: SyncFixture) {
    const installs: { revision: number; routes: number }[] = [];
    const e = new SyncEngine({
      link,
      retryMs: 500,
      checkMs: 60_000,
      reader: new StoreReader(redis, keys),
      log: pino({ level: "silent" }),
      install: (revision, state) => void installs.push({ revision, routes: Object.keys(state.routes).length }),
      onApplied: () => undefined,
    });
    return { e, installs };
  }
  const msg = (f: SyncFixture, rev: number) => JSON.stringify({ v: 2, epoch: f.writer.epoch, rev, at: 1, actor: "t", ops: [{ op: "pool.put", name: "x", pool: { targets: [{ address: "127.0.0.1:1", weight: 1 }] } }] });

  test("repairs a gap from the change log with one install covering every missed revision", async () => {
    const f = makeSync(server, redis);
    const { e, installs } = engine(f);
    await f.writer.write([putPool("blue")], { actor: "t" });
    e.resync();
    await e.idle();
    for (let i = 0; i < 4; i++) await f.writer.write([putRoute(`h${i}.com`, "blue")], { actor: "t" });
    e.onRaw(msg(f, 5));
    await e.idle();
    assert.deepEqual(installs.map((i) => i.revision), [1, 5], "revisions 2-5 come from the log, compiled once");
    assert.equal(installs.at(-1)?.routes, 4);
  });

  test("falls back to a snapshot when the log no longer reaches back", async () => {
    const f = makeSync(server, redis);
    const { e, installs } = engine(f);
    await f.writer.write([putPool("blue")], { actor: "t" });
    e.resync();
    await e.idle();
    const last = MIN_LOG_CAP + 20;
    for (let i = 2; i <= last; i++) await f.writer.write([putRoute(`h${i % 7}.com`, "blue")], { actor: "t" });
    e.onRaw(msg(f, last));
    await e.idle();
    assert.deepEqual(installs.map((i) => i.revision), [1, last], "one snapshot, not a replay");
    assert.equal(installs.at(-1)?.routes, 7);
  });

  test("applies messages buffered during start-up in revision order after the snapshot", async () => {
    const f = makeSync(server, redis);
    const { e, installs } = engine(f);
    await f.writer.write([putPool("blue")], { actor: "t" });
    const route = (rev: number, host: string) =>
      JSON.stringify({ v: 2, epoch: f.writer.epoch, rev, at: 1, actor: "t", ops: [{ op: "route.put", host, route: { upstream: "blue" } }] });
    // Revisions 3 and 2 arrive, out of order, before the snapshot (at 1) is loaded.
    e.onRaw(route(3, "b.com"));
    e.onRaw(route(2, "a.com"));
    assert.equal(installs.length, 0, "nothing is applied before the snapshot");
    e.resync();
    await e.idle();
    assert.deepEqual(installs.map((i) => [i.revision, i.routes]), [[1, 0], [2, 1], [3, 2]]);
  });
});
