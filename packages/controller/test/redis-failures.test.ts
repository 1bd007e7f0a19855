import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import request from "supertest";
import { startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { READ, auth, fixturePerTest, type Fixture } from "./fixture.js";

/**
 * Every way Redis can fail a request maps to a clear status and message, never `500 internal`:
 * out of memory answers 503 store_full (reads still answer); a read-only replica, missing ACL permissions and a busy script answer 503
 * redis_unavailable saying which; a Switchyard key holding the wrong type answers 500
 * corrupt_state. Each test breaks a private redis-server on purpose and mends it afterwards.
 */

let fx: Fixture;
// A client that breaks and mends the fixture's server, and a second server to replicate from.
let admin: Redis;
let primary: RedisHandle;
const { server } = fixturePerTest(async (f) => {
  fx = f;
  admin ??= new Redis(server().url);
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
});
before(async () => {
  primary = await startRedis();
});
after(async () => {
  admin?.disconnect(); // undefined when no test ran
  await primary.stop();
});

const write = () => request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue" });
const read = () => request(fx.app).get("/v1/state").set(auth(READ));

function assertUnavailable(res: request.Response, message: RegExp): void {
  assert.equal(res.status, 503, JSON.stringify(res.body));
  assert.equal(res.body.error, "redis_unavailable");
  assert.match(res.body.message, message);
  assert.doesNotMatch(JSON.stringify(res.body), /at .*\.(ts|js):\d+|script: /, "no stack trace or script text");
}

test("Redis out of memory: writes answer 503 store_full and reads never 500", async () => {
  await admin.config("SET", "maxmemory", "1");
  try {
    const w = await write();
    assert.equal(w.status, 503, JSON.stringify(w.body));
    assert.equal(w.body.error, "store_full");
    assert.match(w.body.message, /out of memory/);
    // Under OOM Redis refuses every command queued in a MULTI (EXECABORT); the snapshot falls back to plain reads.
    await read().expect(200);
  } finally {
    await admin.config("SET", "maxmemory", "0");
  }
  await write().expect(200);
});

test("a read-only replica (failover, or REDIS_URL pointing at a replica): writes answer 503 saying so", async () => {
  await admin.replicaof("127.0.0.1", String(primary.port));
  try {
    // A replica refuses writes (replica-read-only) whether or not its link to the primary is up yet.
    assertUnavailable(await write(), /read-only replica/);
  } finally {
    await admin.replicaof("NO", "ONE");
  }
});

test("missing ACL permissions answer 503 naming the cause, not 500", async () => {
  await admin.acl("SETUSER", "default", "-@scripting");
  try {
    assertUnavailable(await write(), /permission|credentials/);
  } finally {
    await admin.acl("SETUSER", "default", "+@all");
  }
  await write().expect(200);
});

test("a Redis busy running a script answers 503 saying so, and recovers once it is killed", async () => {
  await admin.config("SET", "busy-reply-threshold", "20");
  const hog = new Redis(server().url);
  const killer = new Redis(server().url);
  // Loops until SCRIPT KILL; every other client gets BUSY after the threshold.
  const looping = hog.eval("while true do end", 0).catch((err: Error) => err);
  try {
    await waitFor(async () => (await read()).status !== 200, { what: "Redis busy", timeoutMs: 5000 });
    assertUnavailable(await read(), /busy running a script/);
    assertUnavailable(await write(), /busy running a script/);
  } finally {
    await killer.script("KILL").catch(() => undefined);
    assert.match(String(await looping), /killed/i);
    hog.disconnect();
    killer.disconnect();
    await admin.config("SET", "busy-reply-threshold", "5000");
  }
  await read().expect(200);
});

test("a Switchyard key holding the wrong type answers 500 corrupt_state, not internal", async () => {
  await admin.del(fx.keys.rev);
  await admin.hset(fx.keys.rev, "not", "a counter");
  const res = await read();
  assert.equal(res.status, 500, JSON.stringify(res.body));
  assert.equal(res.body.error, "corrupt_state");
  assert.match(res.body.message, /wrong type/);
  await admin.del(fx.keys.rev);
});
