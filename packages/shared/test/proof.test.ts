import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { PROTOCOL_VERSION, ProofWriter, buildKeys } from "@switchyard/shared";
import { randomPrefix, readyClient, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";

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

const record = (id: string, revision: number, seenAt: number) => ({
  id, revision, appliedAt: seenAt, startedAt: seenAt - 1000, version: "test", address: "127.0.0.1:1", seenAt,
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
      const ack = { v: PROTOCOL_VERSION, agent: "a1", revision: 7, appliedAt: now } as const;
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
