import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { MIN_LOG_CAP, StoreReader, StoreWriter, buildKeys, type Op } from "@switchyard/shared";
import { randomPrefix, startRedis, type RedisHandle } from "@switchyard/testkit";
import { FenceBroken, fencedWrite } from "../src/cutover/fence.js";

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

function setup() {
  const keys = buildKeys(randomPrefix());
  return { reader: new StoreReader(redis, keys), writer: new StoreWriter(redis, keys, MIN_LOG_CAP) };
}
const route = (host: string, upstream: string): Op => ({ op: "route.put", host, route: { upstream } });
const pool = (name: string): Op => ({ op: "pool.put", name, pool: { targets: [{ address: "127.0.0.1:1", weight: 1 }] } });

test("writes when nothing happened since the fence", async () => {
  const d = setup();
  await d.writer.write([pool("blue"), pool("green"), route("a.com", "blue")], { actor: "ops" });
  assert.deepEqual(await fencedWrite(d, [route("a.com", "green")], "cutover:x/step-1", ["a.com"], 1), { revision: 2, adopted: false });
});

test("re-bases over unrelated writes (other hosts, pool edits) and writes", async () => {
  const d = setup();
  await d.writer.write([pool("blue"), pool("green"), route("a.com", "blue")], { actor: "ops" });
  await d.writer.write([route("other.com", "blue")], { actor: "ops" });
  await d.writer.write([pool("blue")], { actor: "ops" });
  assert.deepEqual(await fencedWrite(d, [route("a.com", "green")], "cutover:x/step-1", ["a.com"], 1), { revision: 4, adopted: false });
});

test("adopts its own step written by a run that died before recording it, never applying it twice", async () => {
  const d = setup();
  await d.writer.write([pool("blue"), pool("green"), route("a.com", "blue")], { actor: "ops" });
  await d.writer.write([route("a.com", "green")], { actor: "cutover:x/step-1", expectedRevision: 1 });
  assert.deepEqual(await fencedWrite(d, [route("a.com", "green")], "cutover:x/step-1", ["a.com"], 1), { revision: 2, adopted: true });
  assert.equal(await d.reader.revision(), 2);
});

test("stops without writing when someone else switched one of its hosts", async () => {
  const d = setup();
  await d.writer.write([pool("blue"), pool("green"), route("a.com", "blue"), route("b.com", "blue")], { actor: "ops" });
  await d.writer.write([route("b.com", "green")], { actor: "alice" });
  await assert.rejects(fencedWrite(d, [route("a.com", "green"), route("b.com", "green")], "cutover:x/step-1", ["a.com", "b.com"], 1), (e: unknown) => e instanceof FenceBroken && /concurrent write to b\.com at revision 2 by 'alice'/.test(e.message));
  assert.equal(await d.reader.revision(), 2);
});

test("stops when the change log no longer reaches back to the fence", async () => {
  const d = setup();
  await d.writer.write([pool("blue"), route("a.com", "blue")], { actor: "ops" });
  for (let i = 0; i < MIN_LOG_CAP + 5; i++) await d.writer.write([pool("blue")], { actor: "ops" });
  await assert.rejects(fencedWrite(d, [route("a.com", "blue")], "cutover:x/step-1", ["a.com"], 1), /cannot verify/);
});

test("treats another step of the same cutover as its own write, not a concurrent one", async () => {
  const d = setup();
  await d.writer.write([pool("blue"), pool("green"), route("a.com", "blue")], { actor: "ops" });
  // Step 1 was written by a run that died before recording it; the abort now restores.
  await d.writer.write([route("a.com", "green")], { actor: "cutover:x/step-1", expectedRevision: 1 });
  assert.deepEqual(await fencedWrite(d, [route("a.com", "blue")], "cutover:x/restore", ["a.com"], 1), { revision: 3, adopted: false });
  assert.equal((await d.reader.snapshot()).state.routes["a.com"]?.upstream, "blue");
  // Another cutover's write is still a conflict.
  await d.writer.write([route("a.com", "green")], { actor: "cutover:y/step-1" });
  await assert.rejects(fencedWrite(d, [route("a.com", "blue")], "cutover:x/restore", ["a.com"], 3), FenceBroken);
});
