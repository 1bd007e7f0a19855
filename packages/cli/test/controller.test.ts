// status, agents and switch against the real controller app (in-process) backed by a private Redis.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Redis } from "ioredis";
import { freePort } from "@switchyard/testkit";
import { READ, WRITE, readyRedis } from "../../controller/test/fixture.js";
import { cli } from "./helpers.js";
import { useRealController } from "./real-controller.js";

const real = useRealController();
const env = (token = WRITE) => real.env(token);

async function api(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(real.url + path, {
    method,
    headers: { Authorization: `Bearer ${WRITE}`, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

async function seed() {
  await api("PUT", "/v1/pools/blue", { targets: [{ address: "127.0.0.1:9001" }, { address: "unix:/run/blue.sock", weight: 3 }] });
  await api("PUT", "/v1/pools/green", { targets: [{ address: "127.0.0.1:9002" }] });
  await api("PUT", "/v1/routes/demo.local", { upstream: "blue" });
  await api("PUT", "/v1/routes/*.example.com", { rules: [{ path: "/api/", upstream: "green" }, { path: "/", upstream: { split: { blue: 90, green: 10 } } }] });
  await api("PUT", "/v1/default", { upstream: "blue" });
}

/** A stand-in agent: heartbeat record plus an ack for every change it hears, as a real agent does. */
async function fakeAgent(id: string): Promise<Redis> {
  const beat = async (revision: number, epoch: string | null = null) => {
    const now = Date.now();
    const rec = { id, epoch, revision, appliedAt: now, startedAt: now - 1000, version: "test", address: "127.0.0.2:8080", seenAt: now };
    await real.fx.redis.multi().set(real.fx.keys.agent(id), JSON.stringify(rec), "PX", 5000).zadd(real.fx.keys.agents, now + 5000, id).exec();
  };
  await beat(0);
  const sub = real.fx.redis.duplicate();
  real.cleanup(() => sub.disconnect());
  await readyRedis(sub);
  sub.on("message", (_ch: string, raw: string) => {
    const { rev, epoch } = JSON.parse(raw) as { rev: number; epoch: string };
    void beat(rev, epoch).then(() => real.fx.redis.publish(real.fx.keys.acks, JSON.stringify({ v: 2, agent: id, epoch, revision: rev, appliedAt: Date.now() })));
  });
  await sub.subscribe(real.fx.keys.changes);
  return sub;
}

/** Registered but deaf: it never applies anything, so a wait must report it missing. */
async function deadAgent(id: string) {
  const now = Date.now();
  const rec = { id, epoch: null, revision: 0, appliedAt: now, startedAt: now, version: "test", address: "127.0.0.3:8080", seenAt: now };
  await real.fx.redis.multi().set(real.fx.keys.agent(id), JSON.stringify(rec), "PX", 5000).zadd(real.fx.keys.agents, now + 5000, id).exec();
}

describe("status (real controller)", () => {
  test("prints revision, default, pools, routes and agents", async () => {
    await seed();
    await fakeAgent("edge-1");
    const r = await cli(["status"], env(READ));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^revision\s+5$/m);
    assert.match(r.stdout, /^default\s+blue$/m);
    assert.match(r.stdout, /^\s+blue\s+127\.0\.0\.1:9001, unix:\/run\/blue\.sock=3$/m);
    assert.match(r.stdout, /^\s+green\s+127\.0\.0\.1:9002$/m);
    assert.match(r.stdout, /^\s+demo\.local\s+blue$/m);
    assert.match(r.stdout, /^\s+\*\.example\.com\s+\/api\/ -> green; \/ -> blue=90,green=10$/m);
    assert.match(r.stdout, /^\s+edge-1\s+0\s+5\s+\d+\.\ds ago$/m);
  });

  test("--json prints both API documents", async () => {
    await seed();
    const r = await cli(["status", "--json"], env(READ));
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.state.revision, 5);
    assert.deepEqual(doc.state.routes["demo.local"], { upstream: "blue" });
    assert.deepEqual(doc.agents, []);
  });

  test("an empty fleet says so instead of printing empty tables", async () => {
    const r = await cli(["--token", READ, "--url", real.url, "status"], {});
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^default\s+\(none\)$/m);
    assert.match(r.stdout, /routes \(0\)\n {2}none/);
    assert.match(r.stdout, /agents \(0\)\n {2}none live/);
  });
});

describe("agents (real controller)", () => {
  test("lists live agents as a table and as JSON", async () => {
    await seed();
    await fakeAgent("edge-b");
    await fakeAgent("edge-a");
    const r = await cli(["agents"], env(READ));
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^ID\s+REVISION\s+LAG\s+LAST SEEN\s+VERSION\s+ADDRESS$/);
    assert.match(lines[1] ?? "", /^edge-a\s+0\s+5\s+\S+ ago\s+test\s+127\.0\.0\.2:8080$/);
    assert.match(lines[2] ?? "", /^edge-b\s/);
    const json = await cli(["agents", "--json"], env(READ));
    assert.deepEqual(JSON.parse(json.stdout).map((a: { id: string; lag: number }) => [a.id, a.lag]), [["edge-a", 5], ["edge-b", 5]]);
  });

  test("no agents prints a line, not an empty table", async () => {
    const r = await cli(["agents"], env(READ));
    assert.deepEqual(r, { code: 0, stdout: "no live agents\n", stderr: "" });
  });
});

describe("pool health (real controller)", () => {
  test("prints each agent's view of the pool's targets, as a table and as JSON; an unknown pool exits 1", async () => {
    await seed();
    const now = Date.now();
    const health = [{ pool: "blue", panic: false, targets: [
      { address: "127.0.0.1:9001", state: "ejected", since: now - 3000, lastError: "connect ECONNREFUSED 127.0.0.1:9001" },
      { address: "unix:/run/blue.sock", state: "slow_start", since: now - 1000, lastError: null },
    ] }];
    const rec = { id: "edge-a", epoch: await real.fx.redis.get(real.fx.keys.epoch), revision: 5, appliedAt: now, startedAt: now - 1000, version: "test", address: "127.0.0.2:8080", seenAt: now, health };
    await real.fx.redis.multi().set(real.fx.keys.agent("edge-a"), JSON.stringify(rec), "PX", 5000).zadd(real.fx.keys.agents, now + 5000, "edge-a").exec();
    const r = await cli(["pool", "health", "blue"], env(READ));
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^AGENT\s+ADDRESS\s+STATE\s+SINCE\s+LAST ERROR$/);
    assert.match(lines[1] ?? "", /^edge-a\s+127\.0\.0\.1:9001\s+ejected\s+\S+Z\s+connect ECONNREFUSED/);
    assert.match(lines[2] ?? "", /^edge-a\s+unix:\/run\/blue\.sock\s+slow_start\s+\S+Z\s+-$/);
    const json = await cli(["pool", "health", "blue", "--json"], env(READ));
    assert.deepEqual(JSON.parse(json.stdout)[0].targets.map((t: { state: string }) => t.state), ["ejected", "slow_start"]);
    const missing = await cli(["pool", "health", "nope"], env(READ));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found|nope/);
  });
});

describe("switch (real controller)", () => {
  test("a pool, an address and a split each land in the route as the API expects", async () => {
    await seed();
    let r = await cli(["switch", "demo.local", "green"], env());
    assert.deepEqual(r, { code: 0, stdout: "demo.local -> green at revision 6\n", stderr: "" });
    r = await cli(["switch", "api.local", "unix:/run/app.sock", "--create"], env());
    assert.deepEqual(r, { code: 0, stdout: "api.local -> unix:/run/app.sock at revision 7\n", stderr: "" });
    r = await cli(["switch", "demo.local", "blue=90,green=10"], env());
    assert.deepEqual(r, { code: 0, stdout: "demo.local -> blue=90,green=10 at revision 8\n", stderr: "" });
    r = await cli(["switch", "*.example.com", "10.0.0.1:8080", "--json"], env());
    const json = JSON.parse(r.stdout);
    assert.equal(json.revision, 9);
    assert.deepEqual(json.diff.map((d: { path: string; after: unknown }) => [d.path, d.after]), [["/routes/*.example.com", { upstream: "10.0.0.1:8080" }]]);
    const { state } = await real.fx.reader.snapshot();
    // Splits are null-prototype objects (shared dict.ts): compare as JSON.
    assert.deepEqual(JSON.parse(JSON.stringify(state.routes["demo.local"])), { upstream: { split: { blue: 90, green: 10 } } });
    assert.deepEqual(state.routes["api.local"], { upstream: "unix:/run/app.sock" });
    assert.deepEqual(state.routes["*.example.com"], { upstream: "10.0.0.1:8080" });
  });

  test("--wait reports every agent applied it", async () => {
    await seed();
    await fakeAgent("edge-1");
    await fakeAgent("edge-2");
    const r = await cli(["switch", "demo.local", "green", "--wait", "--timeout", "5s"], env());
    assert.deepEqual(r, { code: 0, stdout: "demo.local -> green at revision 6\napplied on 2/2 agents\n", stderr: "" });
  });

  test("--wait names the agents that did not apply it and exits 1", async () => {
    await seed();
    await fakeAgent("edge-1");
    await deadAgent("edge-dead");
    const r = await cli(["switch", "demo.local", "green", "--wait", "--timeout", "300ms"], env());
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "demo.local -> green at revision 6\napplied on 1/2 agents\nmissing: edge-dead\n");
    assert.equal(r.stderr, "error: revision 6 was written but 1 agent(s) did not apply it within 300ms\n");
    assert.deepEqual((await real.fx.reader.snapshot()).state.routes["demo.local"], { upstream: "green" });
  });

  test("API errors print the controller's message, exit 1, and change nothing", async () => {
    await seed();
    let r = await cli(["switch", "demo.local", "nosuchpool"], env());
    assert.deepEqual(r, { code: 1, stdout: "", stderr: "error: pool 'nosuchpool' does not exist (field: upstream)\n" });
    r = await cli(["switch", "demo.local", "green"], env(READ));
    assert.deepEqual(r, { code: 1, stdout: "", stderr: "error: this token has read scope; writes need a write token\n" });
    r = await cli(["switch", "demo.local", "green"], env("not-a-known-token-0123456789"));
    assert.deepEqual(r, { code: 1, stdout: "", stderr: "error: unknown token\n" });
    assert.equal((await real.fx.reader.snapshot()).revision, 5);
  });

  test("store init needs --confirm (exit 2), refuses an initialised store (exit 1), and starts fresh on a lost one", async () => {
    await seed();
    let r = await cli(["store", "init"], env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: store init starts a fresh, empty store .* --confirm\n$/);
    r = await cli(["store", "init", "--confirm"], env());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: the store is initialised \(epoch [0-9a-f-]+\); nothing was changed\n$/);
    assert.equal((await real.fx.reader.snapshot()).revision, 5);
    const k = real.fx.keys;
    await real.fx.redis.del(k.epoch, k.rev, k.default, k.pools, k.routes, k.refcount, k.routeRefs, k.log);
    r = await cli(["store", "init", "--confirm"], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^store initialised: epoch [0-9a-f]{12}-[0-9a-f]{8}, revision 0\n$/);
    assert.equal((await real.fx.reader.head()).epoch, r.stdout.split(" ")[3]?.replace(",", ""));
  });

  test("usage errors exit 2 before any request", async () => {
    await seed();
    for (const argv of [["switch", "demo.local", "blue=60,green=30"], ["switch", "demo.local"], ["switch", "demo.local", "green", "--timeout", "100ms"], ["switch", "a", "b", "--wait", "--timeout", "0s"], ["switch", "a", "b", "--wait", "--timeout", "5000"], ["bogus"]]) {
      const r = await cli(argv, env());
      assert.equal(r.code, 2, `${argv.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^error: /, argv.join(" "));
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    assert.equal((await real.fx.reader.snapshot()).revision, 5);
  });

  test("a missing token is a clear usage error", async () => {
    const r = await cli(["status"], { SWITCHYARD_URL: real.url });
    assert.deepEqual(r, { code: 2, stdout: "", stderr: "error: no API token: pass --token or set SWITCHYARD_TOKEN\n" });
  });

  test("an unreachable controller is named in the error", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await cli(["--url", dead, "agents"], { SWITCHYARD_TOKEN: WRITE });
    assert.deepEqual(r, { code: 1, stdout: "", stderr: `error: cannot reach the controller at ${dead}: connection refused (ECONNREFUSED)\n` });
    const bad = await cli(["--url", "not a url", "agents"], { SWITCHYARD_TOKEN: WRITE });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: --url 'not a url' is not a URL/);
  });

  test("global options work after the subcommand and override the environment", async () => {
    await seed();
    const r = await cli(["status", "--url", real.url, "--token", READ, "--json"], { SWITCHYARD_URL: "http://127.0.0.1:9", SWITCHYARD_TOKEN: "wrong-token-0123456789abcdef" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).state.revision, 5);
  });
});
