import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { StoreLineage, StoreReader, WriteRefused, bestOffer, digestOf, type Op, type StoreOffer } from "@switchyard/shared";
import { startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { makeSync, putPool, putRoute, type SyncFixture } from "./sync-fixture.js";

// Issue 12, modes 1 and 2, reproduced as the issue describes them. Before epochs, revision numbers
// alone could not tell a new Redis history from the old one: the agent applied the new history's
// entries on top of its old table (mode 1) or ignored them as stale (mode 2), reporting lag 0.

let server: RedisHandle;
let redis: Redis;
let f: SyncFixture | undefined;

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
});
after(async () => {
  await f?.stop();
  redis.disconnect();
  await server.stop();
});

const HOSTS = Array.from({ length: 9 }, (_, i) => `h${i}.local`);

/** A fleet at revision 11: pools blue and green, 9 hosts on blue (revisions 3-11). */
async function fleetAt11(fx: SyncFixture): Promise<void> {
  await fx.writer.write([putPool("blue", 1)], { actor: "t" });
  await fx.writer.write([putPool("green", 2)], { actor: "t" });
  for (const h of HOSTS) await fx.writer.write([putRoute(h, "blue")], { actor: "t" });
  await waitFor(() => fx.current()?.revision === 11, { what: "revision 11" });
}

/** Write `ops` one revision each; refused ones (store_uninitialized) are retried until accepted. */
async function quickWrites(fx: SyncFixture, ops: Op[][]): Promise<{ refused: number }> {
  let refused = 0;
  for (const batch of ops) {
    for (;;) {
      try {
        await fx.writer.write(batch, { actor: "t" });
        break;
      } catch (err) {
        if (!(err instanceof WriteRefused) || err.refusal.code !== "uninitialized") throw err;
        refused++;
        // What the controller's guard does: restore the newest offer once one is there.
        const lineage = new StoreLineage(redis, fx.keys);
        const offer = bestOffer(await lineage.offers());
        if (offer) await lineage.restore(offer as StoreOffer);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  return { refused };
}

/** The agent's table equals the store's state, on the store's lineage and revision. */
async function assertConverged(fx: SyncFixture): Promise<void> {
  const reader = new StoreReader(redis, fx.keys);
  await waitFor(async () => {
    const snap = await reader.snapshot();
    const cur = fx.current();
    return cur !== undefined && fx.sync.status().epoch === snap.epoch && cur.revision === snap.revision && digestOf(cur.state) === digestOf(snap.state);
  }, { timeoutMs: 10_000, what: "agent table equal to the store's state" });
  assert.equal(fx.sync.status().lastError, null);
}

// 12 quick writes: 9 hosts moved to green, then 3 new hosts.
const TWELVE: Op[][] = [...HOSTS.map((h) => [putRoute(h, "green")]), ...["n1", "n2", "n3"].map((n) => [putRoute(`${n}.local`, "green")])];

test("mode 1: Redis SIGKILLed and restarted empty, then 12 quick writes: no write lands on a lost lineage and the agent ends equal to the store", async () => {
  f = makeSync(server, redis);
  await f.start();
  await fleetAt11(f);
  await server.restart();
  await waitFor(() => redis.status === "ready", { timeoutMs: 10_000, what: "writer reconnected" });
  const { refused } = await quickWrites(f, TWELVE);
  assert.ok(refused > 0, "the first write found the store uninitialised and was refused");
  await assertConverged(f);
  const routes = f.current()?.state.routes ?? {};
  for (const h of HOSTS) assert.equal(routes[h]?.upstream, "green", `${h} moved to green`);
  assert.equal(Object.keys(routes).length, 12);
  await f.stop();
  f = undefined;
});

test("mode 2: FLUSHALL without dropping connections is noticed within 3 s with no write, and later writes are neither ignored nor applied on top", async () => {
  f = makeSync(server, redis);
  await f.start();
  await fleetAt11(f);
  const flushed = Date.now();
  await redis.flushall();
  await waitFor(() => f?.sync.status().lastError?.includes("uninitialised"), { timeoutMs: 3000, intervalMs: 20, what: "FLUSHALL noticed" });
  const detected = Date.now() - flushed;
  assert.ok(detected <= 3000, `noticed after ${detected} ms`);
  // Revisions 1-11 of a new history would have been ignored as stale: 11 writes.
  const { refused } = await quickWrites(f, TWELVE.slice(0, 11));
  assert.ok(refused > 0);
  await assertConverged(f);
  console.log(`# lineage mode 2: FLUSHALL noticed after ${detected} ms`);
  await f.stop();
  f = undefined;
});
