import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pino } from "pino";
import type { Redis } from "ioredis";
import { PROTOCOL_VERSION, buildKeys, describeTarget, reconnectDelay, urlTarget } from "@switchyard/shared";
import { randomPrefix, readyClient, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { AckWatcher } from "../src/fleet/acks.js";
import { ackSubscriberConnection, commandConnection, queueConnection, workerConnection } from "../src/redis.js";

let server: RedisHandle;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server.stop();
});

const log = pino({ level: "silent" });
const ready = (r: Redis) => (r.status === "ready" ? Promise.resolve() : new Promise<void>((resolve) => r.once("ready", () => resolve())));

test("every connection role is named in CLIENT LIST and reconnects with the shared backoff", async () => {
  const settings = { target: urlTarget(server.url), commandTimeoutMs: 1500 };
  const roles = { command: commandConnection, acks: ackSubscriberConnection, queue: queueConnection, worker: workerConnection };
  const conns = Object.entries(roles).map(([role, open]) => [role, open(settings, log)] as const);
  try {
    await Promise.all(conns.map(([, c]) => ready(c)));
    const list = (await conns[0]![1].client("LIST")) as string;
    for (const [role, c] of conns) {
      assert.match(list, new RegExp(`name=switchyard-controller:${role} `), role);
      assert.equal(c.options.retryStrategy, reconnectDelay, `${role} uses reconnectDelay`);
    }
    // The two connections API requests use fail fast; BullMQ's worker must not (it refuses a retry limit).
    const opts = Object.fromEntries(conns.map(([role, c]) => [role, c.options]));
    assert.equal(opts.command?.enableOfflineQueue, false);
    assert.equal(opts.queue?.enableOfflineQueue, false);
    assert.equal(opts.command?.commandTimeout, 1500);
    assert.equal(opts.worker?.maxRetriesPerRequest, null);
    assert.equal(opts.acks?.autoResubscribe, false);
  } finally {
    for (const [, c] of conns) c.disconnect();
  }
});

test("an ack watcher handed an already-ready subscriber still subscribes and collects acks", async () => {
  const settings = { target: urlTarget(server.url), commandTimeoutMs: 1500 };
  const cmd = commandConnection(settings, log);
  const sub = ackSubscriberConnection(settings, log);
  const pub = await readyClient(server.url);
  await Promise.all([ready(cmd), ready(sub)]);
  const keys = buildKeys(randomPrefix());
  const acks = new AckWatcher(sub, cmd, keys, log);
  try {
    const now = Date.now();
    const rec = { id: "edge-1", revision: 0, appliedAt: now, startedAt: now, version: "t", address: "127.0.0.2:1", seenAt: now };
    await cmd.multi().set(keys.agent("edge-1"), JSON.stringify(rec), "PX", 5000).zadd(keys.agents, now + 5000, "edge-1").exec();
    const pending = await acks.begin();
    await waitFor(async () => ((await pub.pubsub("NUMSUB", keys.acks)) as [string, number])[1] === 1, { what: "the ack subscription" });
    await pub.publish(keys.acks, JSON.stringify({ v: PROTOCOL_VERSION, agent: "edge-1", revision: 1, appliedAt: Date.now() }));
    const result = await pending.wait(1, 5000);
    assert.deepEqual([result.complete, result.missing], [true, []]);
  } finally {
    acks.close();
    for (const c of [cmd, sub, pub]) c.disconnect();
  }
});

test("a log line describing the target never carries the password", () => {
  assert.equal(describeTarget(urlTarget("redis://user:s3cret@10.0.0.5:6380/2")), "redis://10.0.0.5:6380/2");
  assert.equal(describeTarget(urlTarget("rediss://:s3cret@cache.internal:6379")), "rediss://cache.internal:6379");
});

test("nothing in the controller or shared sources dials Redis but the connection factory", () => {
  const src = new URL("../../", import.meta.url).pathname;
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : n.endsWith(".ts") ? [join(dir, n)] : []));
  const dialers = ["controller/src", "shared/src"]
    .flatMap((d) => files(join(src, d)))
    .filter((f) => /new (Redis|Cluster)\(/.test(readFileSync(f, "utf8")))
    .map((f) => f.slice(src.length));
  assert.deepEqual(dialers, ["shared/src/redis-target.ts"]);
});
