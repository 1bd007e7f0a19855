import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { MIN_LOG_CAP, PROTOCOL_VERSION, ProbeReport, StoreWriter, buildKeys } from "@switchyard/shared";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle, readyClient } from "@switchyard/testkit";
import { closeServer, listen, send } from "./proxy-fixture.js";

// The agent's composition root (src/main.ts, run through tsx so no build is needed) as a real process.
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
let server: RedisHandle;
let redis: Redis;
let upstream: Server;
let child: ChildProcess | undefined;
let output = "";

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  upstream = createServer((req, res) => void res.writeHead(req.url === "/fail" ? 500 : 200).end());
});
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await closeServer(upstream);
  redis.disconnect();
  await server.stop();
});

test("an agent process counts proxied traffic into keys.stats, answers a probe, and flushes what is left on SIGTERM", async () => {
  const prefix = randomPrefix();
  const keys = buildKeys(prefix);
  const app = `127.0.0.1:${await listen(upstream)}`;
  const refused = `127.0.0.1:${await freePort()}`;
  await new StoreWriter(redis, keys, MIN_LOG_CAP).write(
    [{ op: "pool.put", name: "app", pool: { targets: [{ address: app, weight: 1 }] } }, { op: "route.put", host: "a.test", route: { upstream: "app" } }],
    { actor: "t" },
  );
  const [port, admin] = [await freePort(), await freePort()];
  child = spawn(process.execPath, ["--import", "tsx", "--conditions", "switchyard-source", "packages/agent/src/main.ts"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "", REDIS_URL: server.url, SWITCHYARD_PREFIX: prefix, AGENT_ID: "proc-1", AGENT_HOST: "127.0.0.1",
      AGENT_PORT: String(port), AGENT_ADMIN_PORT: String(admin), LOG_LEVEL: "warn",
    },
  });
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));

  await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/readyz`)).ok, { timeoutMs: 20_000, what: `agent ready; output: ${output}` });
  for (const path of ["/", "/", "/fail"]) await send({ port, host: "a.test", path });
  assert.equal((await send({ port, host: "unrouted.test" })).status, 404);
  await waitFor(async () => (await redis.hget(keys.stats, "req:app")) === "3", { timeoutMs: 5000, what: "counters flushed by the timer" });
  // Per upstream, and per route host and upstream (what a canary on a.test counts).
  assert.deepEqual(await redis.hgetall(keys.stats), { "req:app": "3", "err:app": "1", "rreq:a.test app": "3", "rerr:a.test app": "1" });

  const sub = await readyClient(server.url);
  const done: string[] = [];
  try {
    sub.on("message", (_channel: string, id: string) => done.push(id));
    await sub.subscribe(keys.probeDone);
    await redis.publish(keys.probes, JSON.stringify({ v: PROTOCOL_VERSION, id: "pre-1", targets: [app, refused], path: "/", timeoutMs: 1000 }));
    await waitFor(() => done.includes("pre-1"), { timeoutMs: 5000, what: "probeDone" });
  } finally {
    sub.disconnect();
  }
  const report = ProbeReport.parse(JSON.parse((await redis.hget(keys.probeResults("pre-1"), "proc-1")) ?? "null"));
  assert.equal(report.results[app]?.ok, true);
  assert.equal(report.results[refused]?.ok, false);

  // Two more requests, then SIGTERM at once: the timer or the final flush carries them, never neither.
  for (const path of ["/", "/fail"]) await send({ port, host: "a.test", path });
  child.kill("SIGTERM");
  const proc = child;
  const killer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  const code = await exited;
  clearTimeout(killer);
  assert.equal(code, 0, output);
  assert.deepEqual(await redis.hgetall(keys.stats), { "req:app": "5", "err:app": "2", "rreq:a.test app": "5", "rerr:a.test app": "2" });
});
