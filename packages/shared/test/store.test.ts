import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { ChangeMessage, MIN_LOG_CAP, dict, PROTOCOL_VERSION, ProofWriter, StoreReader, StoreWriter, WriteRefused, buildKeys, classify, type Op } from "@switchyard/shared";
import { randomPrefix, startRedis, waitFor, type RedisHandle, readyClient } from "@switchyard/testkit";

let server: RedisHandle;
let redis: Redis;

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
after(async () => {
  redis.disconnect();
  await server.stop();
});

function fresh(logCap = MIN_LOG_CAP) {
  const keys = buildKeys(randomPrefix());
  return { keys, writer: new StoreWriter(redis, keys, logCap), reader: new StoreReader(redis, keys) };
}

const pool = (port: number) => ({ targets: [{ address: `127.0.0.1:${port}`, weight: 1 }] });
const putPool = (name: string, port = 1): Op => ({ op: "pool.put", name, pool: pool(port) });
const putRoute = (host: string, upstream: string): Op => ({ op: "route.put", host, route: { upstream } });

describe("keys", () => {
  test("wrap a bare prefix in a hash tag and keep an explicit one", () => {
    assert.equal(buildKeys("switchyard").rev, "{switchyard}:rev");
    assert.equal(buildKeys("fleet-{eu}").pools, "fleet-{eu}:pools");
    assert.throws(() => buildKeys("a{b}{c}"), /hash tag/);
    assert.throws(() => buildKeys("a b"), /prefix/);
    assert.throws(() => buildKeys("a{}"), /hash tag/);
  });
});

describe("protocol", () => {
  test("classifies the next revision, a duplicate or old one, and a gap", () => {
    assert.equal(classify(5, 6), "next");
    assert.equal(classify(5, 5), "stale");
    assert.equal(classify(5, 2), "stale");
    assert.equal(classify(5, 8), "gap");
  });
});

describe("store", () => {
  test("publishes exactly one message per successful write with strictly increasing revisions", async () => {
    const { keys, writer, reader } = fresh();
    const sub = await readyClient(server.url);
    const got: ChangeMessage[] = [];
    sub.on("message", (_ch, raw) => got.push(ChangeMessage.parse(JSON.parse(raw))));
    await sub.subscribe(keys.changes);
    try {
      await writer.write([putPool("blue", 1), putPool("green", 2)], { actor: "test" });
      for (let i = 0; i < 20; i++) await writer.write([putRoute("a.com", i % 2 ? "blue" : "green")], { actor: "test" });
      // Refused writes publish nothing.
      await assert.rejects(writer.write([putRoute("a.com", "nope")], { actor: "test" }), WriteRefused);
      await assert.rejects(writer.write([putPool("x")], { actor: "test", expectedRevision: 1 }), WriteRefused);
      await writer.write([{ op: "route.del", host: "a.com" }], { actor: "test" });
      await waitFor(() => got.length >= 22, { what: "22 messages" });
      assert.equal(got.length, 22);
      assert.deepEqual(got.map((m) => m.rev), Array.from({ length: 22 }, (_, i) => i + 1));
      assert.equal(await reader.revision(), 22);

      const replay = await reader.changesSince(0, writer.epoch);
      assert.equal(replay.kind, "changes");
      assert.deepEqual(replay.kind === "changes" ? replay.changes : [], got, "the change log replays the published sequence");
      const tail = await reader.changesSince(20, writer.epoch);
      assert.deepEqual(tail.kind === "changes" ? tail.changes.map((c) => c.rev) : [], [21, 22]);
      assert.deepEqual(await reader.changesSince(22, writer.epoch), { kind: "current", revision: 22 });
    } finally {
      sub.disconnect();
    }
  });

  test("applies a batch as one revision and a snapshot reads state and revision together", async () => {
    const { writer, reader } = fresh();
    const r = await writer.write([putPool("blue"), putRoute("a.com", "blue"), { op: "default.put", upstream: "blue" }], { actor: "ops" });
    assert.equal(r.revision, 1);
    const snap = await reader.snapshot();
    assert.equal(snap.revision, 1);
    // Pools and routes are null-prototype objects (dict.ts); deepEqual checks prototypes too.
    assert.deepEqual(snap.state, { defaultUpstream: "blue", pools: dict([["blue", pool(1)]]), routes: dict([["a.com", { upstream: "blue" }]]) });
  });

  test("refuses a route naming a missing pool and writes nothing", async () => {
    const { keys, writer, reader } = fresh();
    await writer.write([putPool("blue")], { actor: "t" });
    const err = await writer.write([putPool("red"), putRoute("a.com", "nope")], { actor: "t" }).catch((e) => e);
    assert.ok(err instanceof WriteRefused);
    assert.deepEqual(err.refusal, { code: "missing_pool", opIndex: 1, pool: "nope" });
    assert.equal(await reader.revision(), 1);
    assert.deepEqual(Object.keys((await reader.snapshot()).state.pools), ["blue"]);
    assert.equal(await redis.xlen(keys.log), 1);
    assert.equal(await redis.xlen(keys.audit), 1);
  });

  test("refuses to delete a pool while a route or the default uses it, naming the users", async () => {
    const { writer, reader } = fresh();
    await writer.write([putPool("blue"), putPool("green"), putRoute("a.com", "blue"), putRoute("b.com", "green")], { actor: "t" });
    await writer.write([{ op: "route.put", host: "c.com", route: { rules: [{ path: "/api/", upstream: { split: { blue: 50, green: 50 } } }] } }], { actor: "t" });
    await writer.write([{ op: "default.put", upstream: "blue" }], { actor: "t" });
    const err = await writer.write([{ op: "pool.del", name: "blue" }], { actor: "t" }).catch((e) => e);
    assert.ok(err instanceof WriteRefused && err.refusal.code === "pool_in_use");
    assert.deepEqual([...(err.refusal as { referrers: string[] }).referrers].sort(), ["@default", "a.com", "c.com"]);
    // Moving every user away frees the pool, within one batch too.
    await writer.write(
      [putRoute("a.com", "green"), { op: "route.del", host: "c.com" }, { op: "default.put", upstream: null }, { op: "pool.del", name: "blue" }],
      { actor: "t" },
    );
    const snap = await reader.snapshot();
    assert.deepEqual(Object.keys(snap.state.pools), ["green"]);
    assert.equal(snap.state.defaultUpstream, null);
  });

  test("compare-and-set refuses a stale expected revision", async () => {
    const { writer } = fresh();
    await writer.write([putPool("blue")], { actor: "t", expectedRevision: 0 });
    const err = await writer.write([putPool("blue", 2)], { actor: "t", expectedRevision: 0 }).catch((e) => e);
    assert.deepEqual(err.refusal, { code: "rev_mismatch", current: 1 });
  });

  test("a change log trimmed to its cap tells a reader it must load a snapshot", async () => {
    const { keys, writer, reader } = fresh(MIN_LOG_CAP);
    await writer.write([putPool("blue")], { actor: "t" });
    const total = MIN_LOG_CAP + 25;
    for (let i = 1; i < total; i++) await writer.write([putPool("blue", (i % 60000) + 1)], { actor: "t" });
    assert.equal(await redis.xlen(keys.log), MIN_LOG_CAP);
    const behind = await reader.changesSince(3, writer.epoch);
    assert.equal(behind.kind, "snapshot_required");
    assert.match(behind.kind === "snapshot_required" ? behind.reason : "", /starts at 26, needed 4/);
    const recent = await reader.changesSince(total - MIN_LOG_CAP, writer.epoch);
    assert.equal(recent.kind, "changes");
    assert.equal(recent.kind === "changes" ? recent.changes.length : 0, MIN_LOG_CAP);
  });

  test("a reader on a lineage Redis no longer has (restarted empty) is told so, and never handed entries of another lineage", async () => {
    const { writer, reader } = fresh();
    assert.deepEqual(await reader.changesSince(7, "0193a1b2c3d4-9f8e7d6c"), { kind: "other_epoch", epoch: null, revision: 0 });
    await writer.write([putPool("blue")], { actor: "t" });
    await writer.write([putPool("green", 2)], { actor: "t" });
    // Same revision numbers, another lineage: nothing from this log applies to the reader's table.
    assert.deepEqual(await reader.changesSince(1, "0193a1b2c3d4-9f8e7d6c"), { kind: "other_epoch", epoch: writer.epoch, revision: 2 });
    const ours = await reader.changesSince(1, writer.epoch);
    assert.deepEqual(ours.kind === "changes" ? ours.changes.map((c) => [c.epoch, c.rev]) : [], [[writer.epoch, 2]]);
  });

  test("a fresh install initialises its lineage on the first write; a writer that knew a lineage is refused on a store that lost it", async () => {
    const { keys, writer, reader } = fresh();
    assert.equal((await reader.head()).epoch, null);
    const { epoch } = await writer.write([putPool("blue")], { actor: "t" });
    assert.deepEqual(await reader.head(), { epoch, revision: 1 });
    await redis.del(keys.epoch, keys.rev, keys.pools, keys.log);
    const err = await writer.write([putPool("blue")], { actor: "t" }).catch((e) => e);
    assert.deepEqual(err.refusal, { code: "uninitialized", knownEpoch: epoch });
    assert.equal(await redis.exists(keys.epoch, keys.rev, keys.pools), 0, "nothing written");
  });

  test("records one audit entry per op with before and after values", async () => {
    const { writer, reader } = fresh();
    await writer.write([putPool("blue"), putPool("green", 2), putRoute("a.com", "blue")], { actor: "alice" });
    await writer.write([putRoute("a.com", "green")], { actor: "bob" });
    const audit = await reader.audit(10);
    assert.equal(audit.length, 4);
    const [latest] = audit;
    assert.deepEqual({ ...latest, at: 0 }, {
      revision: 2, at: 0, actor: "bob", action: "route.put", target: "a.com",
      before: { upstream: "blue" }, after: { upstream: "green" },
    });
    assert.ok(Math.abs((latest?.at ?? 0) - Date.now()) < 60_000);
    assert.deepEqual(audit.slice(1).map((a) => [a.revision, a.action, a.target, a.before]), [
      [1, "route.put", "a.com", null], [1, "pool.put", "green", null], [1, "pool.put", "blue", null],
    ]);
  });

  test("a snapshot containing invalid data is refused, not returned", async () => {
    const { keys, reader } = fresh();
    await redis.hset(keys.pools, "blue", JSON.stringify({ targets: [{ address: "127.0.0.0.:38888" }] }));
    await assert.rejects(reader.snapshot(), /not a valid IPv4/);
  });
});

const record = (id: string, revision: number, seenAt: number) => ({
  id, epoch: "0193a1b2c3d4-9f8e7d6c", revision, appliedAt: seenAt, startedAt: seenAt - 1000, version: "test", address: "127.0.0.1:1", seenAt,
});

describe("proof.lua", () => {
  test("publishes an ack together with the record and index entry that back it", async () => {
    const keys = buildKeys(randomPrefix());
    const sub = await readyClient(server.url);
    const got: string[] = [];
    sub.on("message", (_c: string, m: string) => got.push(m));
    await sub.subscribe(keys.acks);
    try {
      const now = Date.now();
      const ack = { v: PROTOCOL_VERSION, agent: "a1", epoch: "0193a1b2c3d4-9f8e7d6c", revision: 7, appliedAt: now } as const;
      const receivers = await new ProofWriter(redis, keys).send({ record: record("a1", 7, now), ttlMs: 5000, ack });
      assert.equal(receivers, 1);
      await waitFor(() => got.length === 1, { timeoutMs: 2000, what: "the ack" });
      assert.deepEqual(JSON.parse(got[0] as string), ack);
      assert.equal(JSON.parse((await redis.get(keys.agent("a1"))) as string).revision, 7);
      const ttl = await redis.pttl(keys.agent("a1"));
      assert.ok(ttl > 4000 && ttl <= 5000, `record TTL ${ttl} ms`);
      assert.equal(Number(await redis.zscore(keys.agents, "a1")), now + 5000);
    } finally {
      sub.disconnect();
    }
  });

  test("a heartbeat publishes nothing and prunes index entries that expired before the given time", async () => {
    const keys = buildKeys(randomPrefix());
    const now = Date.now();
    await redis.zadd(keys.agents, now - 120_000, "gone", now + 60_000, "other");
    const receivers = await new ProofWriter(redis, keys).send({ record: record("a2", 3, now), ttlMs: 5000, pruneBefore: now - 60_000 });
    assert.equal(receivers, 0);
    assert.deepEqual((await redis.zrange(keys.agents, 0, -1)).sort(), ["a2", "other"]);
  });
});
