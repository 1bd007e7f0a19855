import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
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

test("keeps its table when Redis restarts empty, and adopts new routes written afterwards", async () => {
  await f.stop();
  f = makeSync(server, redis);
  await f.start();
  await f.writer.write([putPool("blue"), putRoute("a.com", "blue")], { actor: "t" });
  await f.writer.write([putRoute("b.com", "blue")], { actor: "t" });
  await waitFor(() => f.current()?.revision === 2, { what: "revision 2" });

  await server.restart();
  await waitFor(() => f.sync.status().lastError?.includes("restarted empty"), { timeoutMs: 10_000, what: "divergence reported" });
  assert.equal(f.current()?.revision, 2);
  assert.deepEqual(Object.keys(f.current()?.state.routes ?? {}), ["a.com", "b.com"]);

  // An operator re-seeds the fresh Redis: its state is the truth again once it routes something.
  await waitFor(() => redis.status === "ready", { timeoutMs: 10_000, what: "writer reconnected" });
  await f.writer.write([putPool("green", 2)], { actor: "t" });
  await f.writer.write([putRoute("c.com", "green")], { actor: "t" });
  await waitFor(() => f.current()?.state.routes["c.com"] !== undefined, { timeoutMs: 5000, what: "re-seeded state adopted" });
  assert.equal(f.current()?.revision, 2);
  assert.deepEqual(Object.keys(f.current()?.state.routes ?? {}), ["c.com"]);
  await f.writer.write([putRoute("d.com", "green")], { actor: "t" });
  await waitFor(() => f.current()?.revision === 3, { timeoutMs: 5000, what: "normal sync resumes" });
  assert.equal(f.sync.status().lastError, null);
});
