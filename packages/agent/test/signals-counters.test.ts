import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import { buildKeys, type Keys } from "@switchyard/shared";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { createProxyServer } from "../src/serve/front/listener.js";
import { Upstreams } from "../src/serve/upstreams.js";
import { statsConnection } from "../src/redis.js";
import { TrafficCounters } from "../src/signals/counters.js";
import { resultReporter } from "../src/signals/results.js";
import { Servers, listen, send, table } from "./proxy-fixture.js";

// Tests here kill, restart and pause their own redis-server, so they run in order.
let server: RedisHandle;
let redis: Redis;
const live: TrafficCounters[] = [];
const silent = pino({ level: "silent" });

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  redis.on("error", () => undefined);
});
after(async () => {
  server.resume();
  for (const c of live) await c.stop();
  redis.disconnect();
  await server.stop();
});

function counters(keys: Keys, flushMs = 50, url = server.url): TrafficCounters {
  const c = new TrafficCounters({ redis: statsConnection({ url }, silent), keys, flushMs, log: silent, finalFlushTimeoutMs: 500 });
  live.push(c);
  c.start();
  return c;
}

const drained = (c: TrafficCounters) => Object.keys(c.status().unflushed).length === 0 && !c.status().inFlight;
const stats = (keys: Keys) => redis.hgetall(keys.stats);
const times = (c: TrafficCounters, upstream: string, status: number, n: number) => {
  for (let i = 0; i < n; i++) c.record(upstream, status);
};

test("flushes deltas, not totals: two agents' repeated flushes sum to exactly the requests recorded", async () => {
  const keys = buildKeys(randomPrefix());
  const a = counters(keys);
  const b = counters(keys);
  times(a, "blue", 200, 3);
  times(b, "blue", 200, 2);
  await waitFor(() => drained(a) && drained(b), { what: "first flushes" });
  assert.deepEqual(await stats(keys), { "req:blue": "5" });

  times(a, "blue", 200, 4);
  await waitFor(() => drained(a) && a.status().flushes === 2, { what: "second flush of agent a" });
  // Totals would have given 3 + 2 + 7 = 12.
  assert.deepEqual(await stats(keys), { "req:blue": "9" });
  assert.equal(a.status().failures, 0);
});

test("counts 5xx (the edge's 502 and 504 included) as errors, other statuses as requests only, and skips 499 and the edge's '-' label", async () => {
  const keys = buildKeys(randomPrefix());
  const c = counters(keys, 60_000); // flushed by hand below
  for (const status of [200, 204, 301, 404, 429, 499, 500, 502, 503, 504]) c.record("blue", status);
  for (const status of [200, 200, 499]) c.record("green", status);
  c.record("127.0.0.1:3001", 504);
  for (const status of [400, 404, 502, 503]) c.record("-", status);
  assert.deepEqual({ ...c.status().unflushed }, {
    blue: { requests: 9, errors: 4 },
    green: { requests: 2, errors: 0 },
    "127.0.0.1:3001": { requests: 1, errors: 1 },
  });
  await waitFor(() => c.redis.status === "ready", { what: "stats connection" });
  assert.equal(await c.flush(), true);
  // No zero fields (err:green) and nothing for "-".
  assert.deepEqual(await stats(keys), { "req:blue": "9", "err:blue": "4", "req:green": "2", "req:127.0.0.1:3001": "1", "err:127.0.0.1:3001": "1" });
  assert.equal(await c.flush(), true, "nothing left, nothing sent");
  assert.equal(c.status().flushes, 1, "an unchanged tally is not flushed");
});

test("counts what the proxy reports: 2xx and 5xx per pool and per direct address, the edge's 502 for a dead target, and not its own 404", async () => {
  const keys = buildKeys(randomPrefix());
  const c = counters(keys);
  const servers = new Servers();
  try {
    const app = await servers.upstream("app", (req, res) => void res.writeHead(req.url === "/fail" ? 500 : 200).end());
    const dead = `127.0.0.1:${await freePort()}`;
    const engine = new Upstreams({ upstreamTimeoutMs: 5000 });
    const routes = table({ defaultUpstream: null, pools: { app: { targets: [{ address: app.address }] } }, routes: { "a.test": { upstream: "app" }, "d.test": { upstream: dead } } });
    const proxy = servers.track(
      createProxyServer({
        table: { current: routes },
        upstreams: engine,
        fastPath: true,
        trustedProxies: new BlockList(),
        log: silent,
        onResult: resultReporter({ counters: c.record }),
      }),
    );
    servers.defer(() => engine.close());
    const port = await listen(proxy);
    for (const path of ["/", "/", "/fail"]) await send({ port, host: "a.test", path });
    assert.equal((await send({ port, host: "d.test" })).status, 502);
    assert.equal((await send({ port, host: "nowhere.test" })).status, 404);
    await waitFor(async () => {
      const s = await stats(keys);
      return s["req:app"] === "3" && s[`req:${dead}`] === "1";
    }, { what: "proxy results flushed" });
    assert.deepEqual(await stats(keys), {
      "req:app": "3", "err:app": "1", [`req:${dead}`]: "1", [`err:${dead}`]: "1",
      "rreq:a.test app": "3", "rerr:a.test app": "1", [`rreq:d.test ${dead}`]: "1", [`rerr:d.test ${dead}`]: "1",
    });
  } finally {
    await servers.closeAll();
  }
});

test("keeps its deltas while Redis is killed and delivers them exactly once to the restarted Redis", async () => {
  const keys = buildKeys(randomPrefix());
  const c = counters(keys);
  times(c, "blue", 200, 2);
  await waitFor(() => drained(c), { what: "flush before the outage" });
  assert.deepEqual(await stats(keys), { "req:blue": "2" });

  await server.kill();
  await waitFor(() => c.redis.status !== "ready", { what: "stats connection noticed the kill" });
  times(c, "blue", 200, 3);
  times(c, "blue", 502, 1);
  // Several flush periods pass while Redis is gone; the deltas stay whole.
  const downSince = Date.now();
  await waitFor(() => Date.now() - downSince >= 300, { timeoutMs: 1000, what: "outage held for several flush periods" });
  assert.deepEqual({ ...c.status().unflushed }, { blue: { requests: 4, errors: 1 } });

  await server.start();
  // The restarted Redis is empty: it holds exactly the deltas since the last successful flush.
  await waitFor(() => drained(c), { timeoutMs: 10_000, what: "flush after the restart" });
  assert.deepEqual(await stats(keys), { "req:blue": "4", "err:blue": "1" });
  c.record("blue", 200);
  await waitFor(() => drained(c), { what: "a later flush" });
  assert.deepEqual(await stats(keys), { "req:blue": "5", "err:blue": "1" });
});

test("a flush sent into a paused Redis lands once on resume, and records made meanwhile follow it exactly once", async () => {
  const keys = buildKeys(randomPrefix());
  const c = counters(keys);
  await waitFor(() => c.redis.status === "ready", { timeoutMs: 10_000, what: "stats connection" });
  c.record("blue", 200);
  await waitFor(() => drained(c), { what: "flush before the pause" });

  server.pause();
  try {
    times(c, "blue", 200, 2);
    await waitFor(() => c.status().inFlight, { what: "a flush sent into the pause" });
    const sentAt = Date.now();
    times(c, "blue", 500, 3);
    // Longer than the link's command timeout and watchdog: a flush here is neither timed out nor resent.
    await waitFor(() => Date.now() - sentAt >= 3500, { timeoutMs: 5000, intervalMs: 100, what: "a 3.5 s pause" });
    assert.equal(c.status().inFlight, true);
    assert.deepEqual({ ...c.status().unflushed }, { blue: { requests: 5, errors: 3 } });
  } finally {
    server.resume();
  }
  await waitFor(() => drained(c), { timeoutMs: 10_000, what: "flushes after the resume" });
  assert.deepEqual(await stats(keys), { "req:blue": "6", "err:blue": "3" });
});

test("keeps the deltas of HINCRBYs that Redis refused (stats key of the wrong type) until it takes them", async () => {
  const keys = buildKeys(randomPrefix());
  await redis.set(keys.stats, "not a hash");
  const c = counters(keys);
  times(c, "blue", 503, 2);
  await waitFor(() => c.status().failures >= 2, { timeoutMs: 5000, what: "refused flushes" });
  assert.deepEqual({ ...c.status().unflushed }, { blue: { requests: 2, errors: 2 } });
  await redis.del(keys.stats);
  await waitFor(() => drained(c), { what: "flush once the key is usable" });
  assert.deepEqual(await stats(keys), { "req:blue": "2", "err:blue": "2" });
});

test("stop() makes one final flush, and returns within its bound when Redis is unreachable", async () => {
  const keys = buildKeys(randomPrefix());
  const c = counters(keys, 60_000);
  await waitFor(() => c.redis.status === "ready", { what: "stats connection" });
  times(c, "blue", 200, 3);
  await c.stop();
  assert.deepEqual(await stats(keys), { "req:blue": "3" });

  const nowhere = counters(keys, 50, `redis://127.0.0.1:${await freePort()}`);
  nowhere.record("blue", 200);
  const t0 = Date.now();
  await nowhere.stop();
  const took = Date.now() - t0;
  assert.ok(took < 1500, `stop took ${took} ms with a 500 ms bound`);
  assert.deepEqual(await stats(keys), { "req:blue": "3" });
});
