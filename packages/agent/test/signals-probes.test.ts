import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import { MIN_LOG_CAP, PROTOCOL_VERSION, ProbeReport, StoreLineage, StoreWriter, buildKeys } from "@switchyard/shared";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle , readyClient } from "@switchyard/testkit";
import { closeServer, listen } from "./proxy-fixture.js";
import { makeSync, type SyncFixture } from "./sync-fixture.js";

// One agent (its push flow and probe responder in process, wired as edge.ts wires them) answering probes against real servers.
const AGENT = "edge-1";
const keys = buildKeys(randomPrefix());
let server: RedisHandle;
let redis: Redis;
let sub: Redis;
let agent: SyncFixture;
let numsubAtUp: Promise<unknown[]>;
let dir: string;
const done: string[] = [];
const logs: { level: number; msg: string }[] = [];
const servers: Server[] = [];
const held: ServerResponse[] = [];
const t: Record<"ok" | "redirect" | "failing" | "silent" | "unix" | "refused", string> = {
  ok: "", redirect: "", failing: "", silent: "", unix: "", refused: "",
};

async function http(handler: (req: IncomingMessage, res: ServerResponse) => void, unixPath?: string): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  if (unixPath) {
    await listen(s, unixPath);
    return `unix:${unixPath}`;
  }
  return `127.0.0.1:${await listen(s)}`;
}
const hold = (_req: IncomingMessage, res: ServerResponse) => void held.push(res);

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  sub = await readyClient(server.url);
  redis.on("error", () => undefined);
  sub.on("error", () => undefined);
  sub.on("message", (channel: string, id: string) => {
    if (channel === keys.probeDone) done.push(id);
  });
  await sub.subscribe(keys.probeDone);

  dir = await mkdtemp(join(tmpdir(), "sy-probe-"));
  t.ok = await http((_req, res) => void res.writeHead(200).end("ok"));
  t.redirect = await http((_req, res) => void res.writeHead(302, { location: "/elsewhere" }).end());
  t.failing = await http((_req, res) => void res.writeHead(500).end("broken"));
  t.silent = await http(hold);
  t.unix = await http((_req, res) => void res.writeHead(204).end(), join(dir, "app.sock"));
  t.refused = `127.0.0.1:${await freePort()}`;

  const log = pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  agent = makeSync(server, redis, { id: AGENT, keys, log, probes: true });
  agent.link.once("up", () => {
    numsubAtUp = redis.pubsub("NUMSUB", keys.changes, keys.probes) as Promise<unknown[]>;
  });
  await agent.start();
  await waitFor(() => agent.sync.status().redis === "connected", { timeoutMs: 10_000, what: "agent link up" });
});

after(async () => {
  server.resume();
  await agent?.stop();
  for (const res of held.splice(0)) res.destroy();
  for (const s of servers) await closeServer(s);
  sub.disconnect();
  redis.disconnect();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

let seq = 0;
async function probe(targets: string[], timeoutMs = 500, path = "/healthz"): Promise<{ id: string; report: ProbeReport; tookMs: number }> {
  const id = `p${++seq}`;
  const t0 = performance.now();
  await redis.publish(keys.probes, JSON.stringify({ v: PROTOCOL_VERSION, id, targets, path, timeoutMs }));
  await waitFor(() => done.includes(id), { timeoutMs: 15_000, what: `probeDone for ${id}` });
  const tookMs = performance.now() - t0;
  const raw = await redis.hget(keys.probeResults(id), AGENT);
  assert.ok(raw, `report of ${AGENT} for ${id}`);
  return { id, report: ProbeReport.parse(JSON.parse(raw)), tookMs };
}

test("'up' is emitted only once both the changes and the probes channels are subscribed", async () => {
  assert.deepEqual(await numsubAtUp, [keys.changes, 1, keys.probes, 1]);
});

test("reports ok for a 2xx, a 3xx and a unix-socket target; not ok for a refused port, a 500, a silent target and an unparsable address", async () => {
  const before = Date.now();
  const { report } = await probe([t.ok, t.redirect, t.unix, t.refused, t.failing, t.silent, "no-port-here"], 400);
  assert.equal(report.agent, AGENT);
  assert.ok(report.at >= before && report.at <= Date.now());
  const r = report.results;
  assert.equal(Object.keys(r).length, 7);
  assert.deepEqual({ ok: r[t.ok]?.ok, status: r[t.ok]?.status }, { ok: true, status: 200 });
  assert.deepEqual({ ok: r[t.redirect]?.ok, status: r[t.redirect]?.status }, { ok: true, status: 302 });
  assert.deepEqual({ ok: r[t.unix]?.ok, status: r[t.unix]?.status }, { ok: true, status: 204 });
  assert.equal(r[t.refused]?.ok, false);
  assert.equal(r[t.refused]?.status, undefined);
  assert.match(r[t.refused]?.error ?? "", /ECONNREFUSED/);
  assert.deepEqual({ ok: r[t.failing]?.ok, status: r[t.failing]?.status }, { ok: false, status: 500 });
  assert.equal(r[t.silent]?.ok, false);
  assert.equal(r[t.silent]?.status, undefined);
  assert.match(r[t.silent]?.error ?? "", /no response within 400 ms/);
  assert.ok((r[t.silent]?.ms ?? 0) >= 395, `silent target gave up after ${r[t.silent]?.ms} ms`);
  assert.equal(r["no-port-here"]?.ok, false);
  assert.match(r["no-port-here"]?.error ?? "", /invalid target/);
  for (const res of Object.values(r)) assert.ok(res.ms >= 0 && res.ms < 2000, `elapsed ${res.ms} ms`);
  // The silent server saw the probe's connection closed, not kept for reuse.
  await waitFor(() => held.every((res) => res.socket === null || res.socket.destroyed), { what: "silent probe connection closed" });
});

test("stores the report under the agent id in keys.probeResults(id) with a TTL of at most 60 s, and publishes the id once on probeDone", async () => {
  const { id } = await probe([t.ok]);
  const ttl = await redis.pttl(keys.probeResults(id));
  assert.ok(ttl > 50_000 && ttl <= 60_000, `pttl ${ttl}`);
  assert.deepEqual(await redis.hkeys(keys.probeResults(id)), [AGENT]);
  assert.equal(done.filter((d) => d === id).length, 1);
});

test("opens a fresh connection for every probe: a repeated probe of a keep-alive target uses a new socket each time", async () => {
  let connections = 0;
  const target = await http((_req, res) => void res.writeHead(200, { connection: "keep-alive" }).end());
  const s = servers.at(-1) as Server;
  s.on("connection", () => connections++);
  await probe([target]);
  await probe([target]);
  assert.equal(connections, 2);
});

test("never has more than 16 probes in flight: 24 silent targets are probed in two waves", async () => {
  const arrivals: number[] = [];
  const targets: string[] = [];
  for (let i = 0; i < 24; i++) {
    targets.push(await http((req, res) => {
      arrivals.push(performance.now());
      hold(req, res);
    }));
  }
  const { report } = await probe(targets, 1000);
  assert.equal(arrivals.length, 24);
  assert.ok(Object.values(report.results).every((r) => !r.ok && /no response within 1000 ms/.test(r.error ?? "")));
  arrivals.sort((a, b) => a - b);
  // The 17th probe can only start once one of the first 16 timed out.
  const gap = (arrivals[16] as number) - (arrivals[0] as number);
  assert.ok(gap >= 900, `17th request arrived ${gap.toFixed(0)} ms after the first`);
  assert.ok((arrivals[15] as number) - (arrivals[0] as number) < 900, "the first 16 ran together");
});

test("ignores a non-JSON and a schema-invalid probe request with a log line, and keeps probing and syncing", async () => {
  const warned = () => logs.filter((l) => l.level === 40 && /ignored/.test(l.msg)).length;
  const warnedBefore = warned();
  await redis.publish(keys.probes, "{not json");
  await redis.publish(keys.probes, JSON.stringify({ v: PROTOCOL_VERSION, id: "bad-1", targets: [], path: "/", timeoutMs: 100 }));
  await redis.publish(keys.probes, JSON.stringify({ v: 99, id: "bad-2", targets: [t.ok], path: "/", timeoutMs: 100 }));
  // Messages arrive in order: once this probe is answered, the invalid ones were handled.
  const { report } = await probe([t.ok]);
  assert.equal(report.results[t.ok]?.ok, true);
  assert.equal(warned() - warnedBefore, 3);
  assert.equal(await redis.exists(keys.probeResults("bad-1"), keys.probeResults("bad-2")), 0);
  assert.ok(!done.includes("bad-1") && !done.includes("bad-2"));

  const writer = new StoreWriter(redis, keys, MIN_LOG_CAP);
  await writer.write([{ op: "route.put", host: "a.test", route: { upstream: t.ok } }], { actor: "t" });
  await waitFor(() => agent.installs.some((i) => i.state.routes["a.test"] !== undefined), { what: "route applied after bad probes" });
  assert.equal(agent.sync.status().lastError, null);
});

test("after a Redis restart both channels are subscribed again: probes are answered and changes applied", async () => {
  await server.restart();
  await waitFor(() => agent.sync.status().redis === "connected", { timeoutMs: 15_000, what: "link up after restart" });
  await waitFor(async () => ((await redis.pubsub("NUMSUB", keys.probeDone)) as unknown[])[1] === 1, { timeoutMs: 15_000, what: "test subscriber back" });
  const { report } = await probe([t.ok, t.refused]);
  assert.equal(report.results[t.ok]?.ok, true);
  assert.equal(report.results[t.refused]?.ok, false);

  // The restarted Redis is empty while the agent holds a table: start a fresh lineage explicitly
  // (otherwise the agent's offer would hold writes back until a restore).
  assert.equal((await new StoreLineage(redis, keys).init("t")).ok, true);
  const writer = new StoreWriter(redis, keys, MIN_LOG_CAP);
  await writer.write([{ op: "route.put", host: "after-restart.test", route: { upstream: t.ok } }], { actor: "t" });
  await waitFor(() => agent.installs.at(-1)?.state.routes["after-restart.test"] !== undefined, { timeoutMs: 5000, what: "change applied after restart" });
});
