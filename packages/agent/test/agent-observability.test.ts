import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { MIN_LOG_CAP, StoreWriter, buildKeys } from "@switchyard/shared";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { closeServer, listen, send } from "./proxy-fixture.js";

// Metrics, access log and request ids, observed on real agent processes (src/main.ts through tsx).
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const GENERATED = /^[0-9a-f]{12}-[0-9a-z]+$/;
let server: RedisHandle;
let redis: Redis;
let upstream: Server;
let app = "";
const seen: IncomingHttpHeaders[] = [];
const children: ChildProcess[] = [];

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  upstream = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on("end", () => res.writeHead(req.url === "/fail" ? 500 : 200).end("ok"));
  });
  app = `127.0.0.1:${await listen(upstream)}`;
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await closeServer(upstream);
  redis.disconnect();
  await server.stop();
});

interface Agent {
  port: number;
  admin: number;
  output(): string;
  revision: number;
}

async function startAgent(env: Record<string, string>): Promise<Agent> {
  const prefix = randomPrefix("obs");
  const { revision } = await new StoreWriter(redis, buildKeys(prefix), MIN_LOG_CAP).write(
    [{ op: "pool.put", name: "app", pool: { targets: [{ address: app, weight: 1 }] } }, { op: "route.put", host: "a.test", route: { upstream: "app" } }],
    { actor: "t" },
  );
  const [port, admin] = [await freePort(), await freePort()];
  let out = "";
  const child = spawn(process.execPath, ["--import", "tsx", "--conditions", "switchyard-source", "packages/agent/src/main.ts"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "", REDIS_URL: server.url, SWITCHYARD_PREFIX: prefix, AGENT_HOST: "127.0.0.1",
      AGENT_PORT: String(port), AGENT_ADMIN_PORT: String(admin), LOG_LEVEL: "warn", ...env,
    },
  });
  children.push(child);
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (out += d));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/readyz`).catch(() => undefined))?.ok === true, { timeoutMs: 60_000, what: `agent ready; output: ${out}` });
  return { port, admin, output: () => out, revision };
}

async function scrape(a: Agent): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${a.admin}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return res.text();
}

/** The value of one series (exact name and label set as printed), 0 when absent. */
function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const accessLines = (a: Agent) =>
  a.output().split("\n").filter((l) => l.includes('"log":"access"')).map((l) => JSON.parse(l) as Record<string, unknown>);

test("an agent's /metrics names the contract series, they move with traffic, and the admin listener is loopback-only by default", async () => {
  const a = await startAgent({ AGENT_ID: "obs-1" });
  const before = await scrape(a);
  for (const path of ["/", "/", "/x?q=1", "/fail"]) await send({ port: a.port, host: "a.test", path });
  assert.equal((await send({ port: a.port, host: "nowhere.test" })).status, 404);
  const text = await scrape(a);
  const ok = 'switchyard_agent_requests_total{upstream="app",code="200"}';
  assert.equal(value(text, ok) - value(before, ok), 3);
  assert.equal(value(text, 'switchyard_agent_requests_total{upstream="app",code="500"}'), 1);
  assert.equal(value(text, 'switchyard_agent_requests_total{upstream="-",code="404"}'), 1);
  assert.equal(value(text, 'switchyard_agent_request_duration_seconds_count{upstream="app"}'), 4);
  assert.equal(value(text, 'switchyard_agent_request_duration_seconds_bucket{le="+Inf",upstream="app"}'), 4);
  assert.ok(value(text, 'switchyard_agent_request_duration_seconds_sum{upstream="app"}') > 0);
  assert.equal(value(text, "switchyard_agent_revision"), a.revision);
  assert.equal(value(text, "switchyard_agent_redis_up"), 1);
  assert.match(text, /^# TYPE switchyard_agent_upstream_health gauge$/m);
  // The pool's one target, from the health registry, before any request could have failed: 1 = healthy.
  const healthSeries = `switchyard_agent_upstream_health{pool="app",target="${app}"}`;
  assert.ok(before.includes(`${healthSeries} `), `no ${healthSeries} in the scrape`);
  assert.equal(value(before, healthSeries), 1);
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  // No host label anywhere: the Host header is user input.
  assert.doesNotMatch(text, /host="/);
  assert.doesNotMatch(text, /nowhere\.test|a\.test/);
  // The admin listener binds 127.0.0.1 by default: another address of the machine is refused.
  await assert.rejects(fetch(`http://127.0.0.2:${a.admin}/metrics`), (err: Error) => /ECONNREFUSED/.test(String((err.cause as Error | undefined)?.message ?? err)));
  // The access log is off by default.
  assert.equal(accessLines(a).length, 0);
});

test("AGENT_METRICS=off leaves /metrics out (404); AGENT_ACCESS_LOG=on writes one line per request with the contract fields, on both doors", async () => {
  const a = await startAgent({ AGENT_ID: "obs-2", AGENT_METRICS: "off", AGENT_ACCESS_LOG: "on" });
  const res = await fetch(`http://127.0.0.1:${a.admin}/metrics`);
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { error: string }).error, "not_found");

  seen.length = 0;
  // Fast path (bodiless GET), then Node's door (a body), then the edge's own 404.
  await send({ port: a.port, host: "a.test", path: "/p?secret=1", headers: { "x-request-id": "client-id-1" } });
  await send({ port: a.port, host: "a.test", path: "/upload", method: "POST", body: "hello" });
  await send({ port: a.port, host: "nowhere.test", path: "/" });
  await waitFor(() => accessLines(a).length >= 3, { timeoutMs: 10_000, what: `3 access lines; output: ${a.output()}` });
  const lines = accessLines(a);
  assert.equal(lines.length, 3);
  const [get, post, miss] = lines;
  assert.deepEqual(
    { ...get, duration_ms: typeof get?.duration_ms },
    { ...get, host: "a.test", method: "GET", path: "/p", status: 200, upstream: "app", target: app, revision: a.revision, request_id: "client-id-1", duration_ms: "number" },
  );
  assert.equal(post?.method, "POST");
  assert.equal(post?.path, "/upload");
  assert.equal(post?.status, 200);
  assert.match(String(post?.request_id), GENERATED);
  assert.equal(seen[1]?.["x-request-id"], post?.request_id);
  assert.deepEqual([miss?.status, miss?.upstream, miss?.target, miss?.host], [404, "-", null, "nowhere.test"]);
  assert.match(String(miss?.request_id), GENERATED);
  assert.equal(get?.level, 30);
});

test("a two-worker agent's /metrics adds up every worker's requests", async () => {
  const a = await startAgent({ AGENT_ID: "obs-3", AGENT_WORKERS: "2" });
  await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${a.admin}/status`)).json()) as { workers?: unknown[] }).workers?.length === 2, { timeoutMs: 60_000, what: "two workers" });
  const n = 40;
  // A new connection each: the kernel spreads them over both workers.
  for (let i = 0; i < n; i++) assert.equal((await send({ port: a.port, host: "a.test" })).status, 200);
  // The primary asks each worker (prom-client waits 5 s for them); a busy machine may need a second scrape.
  let text = "";
  await waitFor(async () => {
    const res = await fetch(`http://127.0.0.1:${a.admin}/metrics`);
    text = await res.text();
    return res.status === 200;
  }, { timeoutMs: 30_000, what: "an aggregated scrape" });
  assert.equal(value(text, 'switchyard_agent_requests_total{upstream="app",code="200"}'), n);
  assert.equal(value(text, 'switchyard_agent_request_duration_seconds_count{upstream="app"}'), n);
  assert.equal(value(text, "switchyard_agent_revision"), a.revision);
  assert.equal(value(text, "switchyard_agent_redis_up"), 1);
});
