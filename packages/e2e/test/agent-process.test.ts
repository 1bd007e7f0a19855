import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, test } from "node:test";
import { MIN_LOG_CAP, StoreWriter, buildKeys } from "@switchyard/shared";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { Redis } from "ioredis";
import { spawnNode, type Proc } from "../src/index.js";
import { get } from "../src/fleet.js";

let redis: RedisHandle;
let client: Redis;
let slow: Server;
let slowPort: number;
let released: (() => void)[] = [];

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  // An upstream that holds each response until the test releases it: an in-flight request on demand.
  slow = createServer((req, res) => {
    released.push(() => res.end("done"));
  });
  await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
  slowPort = (slow.address() as { port: number }).port;
});
after(async () => {
  slow.closeAllConnections();
  slow.close();
  client.disconnect();
  await redis.stop();
});

async function agent(prefix: string, env: Record<string, string> = {}): Promise<{ proc: Proc; port: number; admin: number }> {
  const [port, admin] = [await freePort(), await freePort()];
  const proc = spawnNode("agent", ["packages/agent/dist/main.js"], {
    REDIS_URL: redis.url, SWITCHYARD_PREFIX: prefix, AGENT_ID: "drainer", AGENT_HOST: "127.0.0.1",
    AGENT_PORT: String(port), AGENT_ADMIN_PORT: String(admin), LOG_LEVEL: "warn", ...env,
  });
  return { proc, port, admin };
}

test("readyz is 503 until the first table, status reports it, and SIGTERM drains an in-flight request before exiting 0", async () => {
  const prefix = randomPrefix();
  const keys = buildKeys(prefix);
  const a = await agent(prefix, { REDIS_URL: "redis://127.0.0.1:1" });
  try {
    // No Redis reachable: alive but not ready, and nothing to serve yet.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${a.admin}/healthz`)).ok, { what: "admin up", timeoutMs: 10_000 });
    assert.equal((await fetch(`http://127.0.0.1:${a.admin}/readyz`)).status, 503);
    assert.equal((await get("127.0.0.1", a.port, "x")).status, 503);
    const s = (await (await fetch(`http://127.0.0.1:${a.admin}/status`)).json()) as { redis: string };
    assert.equal(s.redis, "disconnected");
    assert.equal((await fetch(`http://127.0.0.1:${a.admin}/status`, { method: "POST" })).status, 405);
  } finally {
    assert.equal(await a.proc.stop(), 0);
  }

  const writer = new StoreWriter(client, keys, MIN_LOG_CAP);
  await writer.write([{ op: "route.put", host: "slow.test", route: { upstream: `127.0.0.1:${slowPort}` } }], { actor: "t" });
  const b = await agent(prefix);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${b.admin}/readyz`)).ok, { what: "ready", timeoutMs: 10_000 });
  const status = (await (await fetch(`http://127.0.0.1:${b.admin}/status`)).json()) as Record<string, unknown>;
  assert.deepEqual({ ...status, appliedAt: typeof status.appliedAt }, { id: "drainer", revision: 1, appliedAt: "string", redis: "connected", lastError: null, routes: 1, pools: 0, panic: [], health: [] });

  released = [];
  const inflight = get("127.0.0.1", b.port, "slow.test", undefined, 15_000);
  await waitFor(() => released.length === 1, { what: "request reached the upstream" });
  const exit = b.proc.stop("SIGTERM");
  // While draining, new connections are refused...
  await waitFor(async () => get("127.0.0.1", b.port, "slow.test").then(() => false, () => true), { what: "listener closed" });
  // ...and the in-flight request still completes.
  released[0]?.();
  const done = await inflight;
  assert.deepEqual({ status: done.status, body: done.body }, { status: 200, body: "done" });
  assert.equal(await exit, 0);
  // It deregistered on the way out, so the controller stops counting it at once.
  assert.equal(await client.exists(keys.agent("drainer")), 0);
});

test("a bad environment exits 2 with one message listing every problem", async () => {
  const p = spawnNode("agent", ["packages/agent/dist/main.js"], { AGENT_PORT: "x", AGENT_TRUSTED_PROXIES: "10.0.0.0/99", AGENT_PING_INTERVAL_MS: "2000", AGENT_PING_TIMEOUT_MS: "2000" });
  const code = await new Promise<number | null>((r) => p.child.once("exit", r));
  assert.equal(code, 2);
  const out = p.output();
  assert.match(out, /invalid configuration/);
  assert.match(out, /AGENT_PORT/);
  assert.match(out, /AGENT_PING_TIMEOUT_MS/);
  assert.match(out, /AGENT_TRUSTED_PROXIES: invalid CIDR/);
  assert.doesNotMatch(out, /at .*\.js:\d+/);
});

test("SIGTERM with an open WebSocket still exits 0 once the drain deadline passes", async () => {
  const { WebSocketServer, WebSocket } = await import("ws");
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  wss.on("connection", (s) => s.on("message", (m) => s.send(m)));
  const prefix = randomPrefix();
  const writer = new StoreWriter(client, buildKeys(prefix), MIN_LOG_CAP);
  await writer.write([{ op: "route.put", host: "ws.test", route: { upstream: `127.0.0.1:${(wss.address() as { port: number }).port}` } }], { actor: "t" });
  const a = await agent(prefix, { AGENT_DRAIN_TIMEOUT_MS: "1000" });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${a.admin}/readyz`)).ok, { what: "ready", timeoutMs: 10_000 });
    const ws = new WebSocket(`ws://127.0.0.1:${a.port}/`, { headers: { host: "ws.test" } });
    await new Promise<void>((resolve, reject) => ws.once("open", () => resolve()).once("error", reject));
    const echoed = new Promise<string>((r) => ws.once("message", (m) => r(String(m))));
    ws.send("ping");
    assert.equal(await echoed, "ping");
    const t0 = Date.now();
    assert.equal(await a.proc.stop("SIGTERM", 10_000), 0);
    assert.ok(Date.now() - t0 < 5000, `exited after ${Date.now() - t0} ms`);
    ws.terminate();
  } finally {
    await a.proc.stop("SIGKILL");
    wss.close();
  }
});
