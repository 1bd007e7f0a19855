import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { StoreLineage, WriteRefused, bestOffer, type StoreOffer } from "@switchyard/shared";
import { startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { makeSync, putPool, putRoute, type SyncFixture } from "./sync-fixture.js";

// Each test here stops or restarts its own redis-server.
let server: RedisHandle;
let redis: Redis;
let f: SyncFixture;

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
});
after(async () => {
  server.resume();
  await f?.stop();
  redis.disconnect();
  await server.stop();
});

test("a Redis SIGSTOP is detected within 3 s and reported as a timeout while the table keeps serving, and sync recovers after SIGCONT", async () => {
  f = makeSync(server, redis);
  await f.start();
  await f.writer.write([putPool("blue"), putRoute("a.com", "blue")], { actor: "t" });
  await waitFor(() => f.current()?.revision === 1, { what: "revision 1" });
  await waitFor(() => f.sync.status().redis === "connected", { what: "link up" });

  const downs = f.downs.length;
  const stoppedAt = Date.now();
  server.pause();
  let detectedAfter: number;
  try {
    await waitFor(() => f.downs.length > downs, { timeoutMs: 5000, what: "hung Redis detected" });
    detectedAfter = (f.downs.at(-1) ?? 0) - stoppedAt;
    assert.ok(detectedAfter <= 3000, `detected after ${detectedAfter} ms`);
    assert.equal(f.sync.status().redis, "disconnected");
    // The hung PING, or (once the watchdog has reconnected) the handshake the paused server leaves unanswered.
    assert.match(f.sync.status().lastError ?? "", /^redis \w+ connection: timeout: (PING unanswered|Redis accepted the connection)/);
    // Hold the outage for 5 s in total; the table must not move.
    await waitFor(() => Date.now() - stoppedAt >= 5000, { timeoutMs: 6000, intervalMs: 100, what: "5 s outage" });
    assert.equal(f.current()?.revision, 1);
    assert.equal(f.installs.length, 1);
  } finally {
    server.resume();
  }
  console.log(`# SIGSTOP detected after ${detectedAfter} ms`);
  await waitFor(() => f.sync.status().redis === "connected", { timeoutMs: 10_000, what: "reconnect after SIGCONT" });
  assert.equal(f.sync.status().lastError, null);
  await f.writer.write([putRoute("a.com", "127.0.0.1:2")], { actor: "t" });
  await waitFor(() => f.current()?.revision === 2, { timeoutMs: 5000, what: "revision 2 after recovery" });
});

test("keeps its table when Redis restarts empty, offers it, and carries on from the restored copy without a reload", async () => {
  await f.stop();
  f = makeSync(server, redis);
  await f.start();
  await f.writer.write([putPool("blue"), putRoute("a.com", "blue")], { actor: "t" });
  await f.writer.write([putRoute("b.com", "blue")], { actor: "t" });
  await waitFor(() => f.current()?.revision === 2, { what: "revision 2" });
  const epoch = f.sync.status().epoch;
  assert.equal(epoch, f.writer.epoch);
  const installs = f.installs.length;

  await server.restart();
  await waitFor(() => f.sync.status().lastError?.includes("uninitialised"), { timeoutMs: 10_000, what: "uninitialised store reported" });
  assert.equal(f.current()?.revision, 2);
  assert.deepEqual(Object.keys(f.current()?.state.routes ?? {}), ["a.com", "b.com"]);

  // The writer knew a lineage: its writes are refused until the store is restored.
  await waitFor(() => redis.status === "ready", { timeoutMs: 10_000, what: "writer reconnected" });
  await assert.rejects(f.writer.write([putRoute("c.com", "blue")], { actor: "t" }), (err) => err instanceof WriteRefused && err.refusal.code === "uninitialized");
  const lineage = new StoreLineage(redis, f.keys);
  await waitFor(async () => (await lineage.offers()).length === 1, { timeoutMs: 5000, what: "the agent's offer" });
  const offer = bestOffer(await lineage.offers());
  assert.deepEqual([offer?.agent, offer?.epoch, offer?.revision], ["agent-1", epoch, 2]);
  assert.deepEqual(await lineage.restore(offer as StoreOffer), { ok: true, epoch, revision: 2 });
  // Exactly one restore wins: the store is no longer empty.
  assert.deepEqual(await lineage.restore(offer as StoreOffer), { ok: false });

  await waitFor(() => f.sync.status().lastError === null, { timeoutMs: 5000, what: "restored store accepted" });
  assert.equal(f.installs.length, installs, "same lineage and revision: no reload");
  await f.writer.write([putRoute("c.com", "blue")], { actor: "t" });
  await waitFor(() => f.current()?.revision === 3, { timeoutMs: 5000, what: "normal sync resumes" });
  assert.deepEqual(Object.keys(f.current()?.state.routes ?? {}).sort(), ["a.com", "b.com", "c.com"]);
});

test("an explicit init starts a new lineage: the agent adopts it (empty) instead of keeping its table", async () => {
  await f.stop();
  f = makeSync(server, redis);
  await f.start();
  await f.writer.write([putPool("blue"), putRoute("a.com", "blue")], { actor: "t" });
  await waitFor(() => f.current()?.revision === 1, { what: "revision 1" });
  await redis.flushall();
  await waitFor(() => f.sync.status().lastError?.includes("uninitialised"), { timeoutMs: 5000, what: "uninitialised store reported" });
  const init = await new StoreLineage(redis, f.keys).init("ops");
  assert.equal(init.ok, true);
  await waitFor(() => f.sync.status().epoch === init.epoch, { timeoutMs: 5000, what: "new lineage adopted" });
  assert.equal(f.current()?.revision, 0);
  assert.deepEqual(Object.keys(f.current()?.state.routes ?? {}), []);
  assert.equal(await redis.exists(f.keys.offers), 0, "init drops the offers");
});
