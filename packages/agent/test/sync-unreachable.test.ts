import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, afterEach, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { pino } from "pino";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { makeSync, putPool, type SyncFixture } from "./sync-fixture.js";

// An agent that cannot reach Redis says why: in a log line once per change of cause (not once per
// retry) and in its status's lastError. Real redis-servers: one stopped, one with a password.
let live: RedisHandle;
let redis: Redis;
const running: SyncFixture[] = [];

before(async () => {
  live = await startRedis();
  redis = new Redis(live.url, { maxRetriesPerRequest: null });
  redis.on("error", () => undefined);
});
afterEach(async () => {
  live.resume();
  for (const f of running.splice(0)) await f.stop();
  await redis.config("SET", "requirepass", "");
});
after(async () => {
  redis.disconnect();
  await live.stop();
});

interface Line {
  level: number;
  msg: string;
  cause?: string;
}

/** An agent's push flow against `url`, its log lines, and how many errors its connections saw. */
async function agentAt(url: string) {
  const lines: Line[] = [];
  const log = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const f = makeSync(live, redis, { url, log });
  running.push(f);
  let errors = 0;
  const connects = new Map<Redis, number>();
  for (const conn of [f.link.cmd, f.link.sub]) {
    conn.on("error", () => errors++);
    conn.on("connect", () => connects.set(conn, (connects.get(conn) ?? 0) + 1));
  }
  // start() must return whatever Redis does: an agent's admin listener only opens after it.
  let started = false;
  void f.start().then(() => (started = true));
  await waitFor(() => started, { timeoutMs: 10_000, what: "start() to return" });
  return { f, lines, errors: () => errors, connects: (conn: Redis) => connects.get(conn) ?? 0, causeLines: () => lines.filter((l) => l.msg.startsWith("redis unreachable")) };
}

test("a stopped Redis: lastError and one log line say ECONNREFUSED, however many times the connections retry", async () => {
  const stopped = await startRedis();
  await stopped.stop();
  const a = await agentAt(stopped.url);
  await waitFor(() => a.errors() >= 8, { timeoutMs: 15_000, what: "several failed connection attempts" });
  assert.match(a.f.sync.status().lastError ?? "", /ECONNREFUSED/);
  assert.equal(a.f.sync.status().redis, "disconnected");
  assert.equal(a.causeLines().length, 1, JSON.stringify(a.lines));
  assert.match(a.causeLines()[0]?.cause ?? "", /ECONNREFUSED/);
});

test("a wrong password: WRONGPASS in lastError and one log line; cleared once the password works", async () => {
  await redis.config("SET", "requirepass", "s3cret");
  const a = await agentAt(`redis://:wrong@127.0.0.1:${live.port}`);
  await waitFor(() => a.errors() >= 6, { timeoutMs: 15_000, what: "several refused logins" });
  assert.match(a.f.sync.status().lastError ?? "", /WRONGPASS.*check the password in REDIS_URL/);
  assert.equal(a.causeLines().length, 1, JSON.stringify(a.lines));

  await redis.config("SET", "requirepass", "");
  await waitFor(() => a.f.sync.status().redis === "connected", { timeoutMs: 10_000, what: "link up once the password is accepted" });
  await waitFor(() => a.f.sync.status().initialized, { what: "first table" });
  assert.equal(a.f.sync.status().lastError, null);
});

test("no password where one is required: NOAUTH in lastError and one log line", async () => {
  await redis.config("SET", "requirepass", "s3cret");
  const a = await agentAt(live.url);
  await waitFor(() => a.errors() >= 6, { timeoutMs: 15_000, what: "several refused handshakes" });
  assert.match(a.f.sync.status().lastError ?? "", /NOAUTH/);
  assert.equal(a.causeLines().length, 1, JSON.stringify(a.lines));
});

test("a Redis hung before the agent dials it: a handshake timeout in lastError and one log line, then it syncs after SIGCONT", async () => {
  live.pause();
  let a: Awaited<ReturnType<typeof agentAt>>;
  try {
    a = await agentAt(live.url);
    await waitFor(() => /handshake/.test(a.f.sync.status().lastError ?? ""), { timeoutMs: 10_000, what: "hung handshake reported" });
    assert.match(a.f.sync.status().lastError ?? "", /^redis \w+ connection: timeout/);
    // Both connections give up on a few handshakes each (the subscriber has no command timeout:
    // only the link's handshake deadline ends its wait): still one line.
    await waitFor(() => a.connects(a.f.link.cmd) >= 3 && a.connects(a.f.link.sub) >= 3, { timeoutMs: 15_000, what: "several unanswered handshakes" });
    assert.equal(a.causeLines().length, 1, JSON.stringify(a.lines));
  } finally {
    live.resume();
  }
  await waitFor(() => a.f.sync.status().redis === "connected", { timeoutMs: 10_000, what: "link up after SIGCONT" });
  await a.f.writer.write([putPool("blue")], { actor: "t" });
  await waitFor(() => a.f.current()?.revision === 1, { what: "revision 1" });
  assert.equal(a.f.sync.status().lastError, null);
});

test("an agent process reports the cause in /status and logs it once", async () => {
  const stopped = `redis://127.0.0.1:${await freePort()}`;
  const admin = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "--conditions", "switchyard-source", "packages/agent/src/main.ts"], {
    cwd: fileURLToPath(new URL("../../../", import.meta.url)),
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "", REDIS_URL: stopped, SWITCHYARD_PREFIX: randomPrefix(), AGENT_ID: "lonely", AGENT_HOST: "127.0.0.1",
      AGENT_PORT: String(await freePort()), AGENT_ADMIN_PORT: String(admin), LOG_LEVEL: "debug",
    },
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const status = async () => (await (await fetch(`http://127.0.0.1:${admin}/status`)).json()) as { redis: string; lastError: string | null };
    await waitFor(async () => /ECONNREFUSED/.test((await status().catch(() => ({ lastError: "" }))).lastError ?? ""), { timeoutMs: 20_000, what: `cause in /status; output: ${output}` });
    assert.equal((await status()).redis, "disconnected");
    // Every failed attempt leaves a debug line: wait until the connections have retried a few times.
    await waitFor(() => output.split("\n").filter((l) => l.includes('"redis error"')).length >= 8, { timeoutMs: 20_000, what: "a few retries" });
    const lines = output.split("\n").filter((l) => l.includes("redis unreachable"));
    assert.equal(lines.length, 1, output);
    assert.match(lines[0] ?? "", /ECONNREFUSED/);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
});
