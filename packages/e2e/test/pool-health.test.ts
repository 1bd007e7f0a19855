import assert from "node:assert/strict";
import { createServer, Agent, type Server } from "node:http";
import type { Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { get, startFleet, type Fleet, type FleetAgent } from "../src/fleet.js";

/**
 * Health-aware pools through a real agent process (issue 13): next target, passive ejection,
 * active checks, drain and slow start. The upstreams are HTTP servers in this process, so a test
 * can fail a health path, or kill a target under load.
 */

interface App {
  name: string;
  address: string;
  /** Requests seen (the health path apart). */
  hits: number;
  /** What the health path answers. */
  healthStatus: number;
  kill(): void;
}

const apps: App[] = [];
let redis: RedisHandle;
let fleet: Fleet;
let edge: FleetAgent;

async function app(name: string): Promise<App> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const a: App = { name, address: `127.0.0.1:${port}`, hits: 0, healthStatus: 200, kill: () => undefined };
  const server: Server = createServer((req, res) => {
    req.resume();
    if (req.url === "/healthz") {
      res.writeHead(a.healthStatus).end();
      return;
    }
    a.hits++;
    res.writeHead(200, { "content-type": "text/plain" }).end(name);
  });
  server.keepAliveTimeout = 5000;
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  a.kill = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  apps.push(a);
  return a;
}

async function deadAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

/** A pool and a route to it, applied by the agent before this returns. */
async function pool(name: string, body: unknown): Promise<void> {
  const p = await fleet.api("PUT", `/v1/pools/${name}?wait=applied&timeout=5000`, body);
  assert.equal(p.status, 200, p.text);
  const r = await fleet.api("PUT", `/v1/routes/${name}.test?wait=applied&timeout=5000`, { upstream: name });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.complete, true, r.text);
}

/** The agent's own view of one pool's targets (admin /status: no heartbeat delay). */
async function states(pool: string): Promise<Map<string, string>> {
  const res = await fetch(`http://127.0.0.1:${edge.adminPort}/status`);
  const status = (await res.json()) as { health: { pool: string; targets: { address: string; state: string }[] }[] };
  return new Map((status.health.find((p) => p.pool === pool)?.targets ?? []).map((t) => [t.address, t.state]));
}

before(async () => {
  redis = await startRedis();
  fleet = await startFleet(redis, randomPrefix("e2e-health"), ["127.0.0.2"]);
  edge = fleet.agents[0] as FleetAgent;
});
after(async () => {
  for (const a of apps) a.kill();
  await fleet?.stop();
  await redis?.stop();
});

describe("health-aware pools through a real agent", () => {
  test("a pool with one dead target of two fails 0 of 200 sequential GETs, and the dead one is ejected fleet-wide", async () => {
    const live = await app("live");
    const dead = await deadAddress();
    await pool("halfdead", { targets: [{ address: dead }, { address: live.address }] });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const failed: number[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        const r = await get(edge.host, edge.port, "halfdead.test", agent);
        if (r.status !== 200) failed.push(r.status);
      }
    } finally {
      agent.destroy();
    }
    assert.deepEqual(failed, []);
    assert.equal((await states("halfdead")).get(dead), "ejected");
    // The fleet view, from the heartbeat record.
    await waitFor(async () => {
      const h = await fleet.api("GET", "/v1/pools/halfdead/health");
      return h.body?.[0]?.targets?.find((t: { address: string }) => t.address === dead)?.state === "ejected";
    }, { what: "the controller reports the dead target ejected", timeoutMs: 10_000 });
    const h = await fleet.api("GET", "/v1/pools/halfdead/health");
    assert.equal(h.body[0].agent, edge.id);
    assert.match(h.body[0].targets.find((t: { address: string }) => t.address === dead).lastError, /ECONNREFUSED|connect/);
  });

  test("a target killed under load costs at most the requests in flight, and none after the first second", async () => {
    const a = await app("a");
    const b = await app("b");
    await pool("killed", { targets: [{ address: a.address }, { address: b.address }] });
    const results: { at: number; ok: boolean }[] = [];
    let killedAt = 0;
    const LOOPS = 4;
    const until = Date.now() + 4000;
    const loops = Array.from({ length: LOOPS }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let n = 0; n < 20_000 && Date.now() < until; n++) {
          try {
            const r = await get(edge.host, edge.port, "killed.test", agent);
            results.push({ at: Date.now(), ok: r.status === 200 });
          } catch {
            results.push({ at: Date.now(), ok: false });
          }
        }
      } finally {
        agent.destroy();
      }
    });
    await waitFor(() => results.length > 200, { what: "load running", timeoutMs: 10_000 });
    killedAt = Date.now();
    b.kill();
    await Promise.all(loops);
    const failed = results.filter((r) => !r.ok);
    console.log(`# target killed under load: ${failed.length} of ${results.length} requests failed (${LOOPS} loops), none after ${killedAt + 1000 - killedAt} ms`);
    assert.ok(failed.length <= LOOPS, `${failed.length} failed (${LOOPS} in flight at most)`);
    assert.deepEqual(failed.filter((r) => r.at > killedAt + 1000), []);
    assert.ok(results.filter((r) => r.at > killedAt + 1000).length > 100, "load went on after the kill");
  });

  test("active checks take a target out within interval x unhealthyThreshold + 1 s, and readmit it after it recovers", async () => {
    const a = await app("hc-a");
    const b = await app("hc-b");
    await pool("checked", {
      targets: [{ address: a.address }, { address: b.address }],
      healthCheck: { path: "/healthz", interval: "500ms", timeout: "300ms", healthyThreshold: 2, unhealthyThreshold: 2 },
    });
    const failedAt = Date.now();
    b.healthStatus = 503;
    await waitFor(async () => (await states("checked")).get(b.address) === "unhealthy", { what: "b unhealthy", timeoutMs: 10_000, intervalMs: 50 });
    const tookMs = Date.now() - failedAt;
    console.log(`# active check: out ${tookMs} ms after the health path failed (bound ${500 * 2 + 1000} ms)`);
    assert.ok(tookMs <= 500 * 2 + 1000, `out after ${tookMs} ms`);
    const before = b.hits;
    for (let i = 0; i < 20; i++) assert.equal((await get(edge.host, edge.port, "checked.test")).status, 200);
    assert.equal(b.hits, before, "an unhealthy target gets no request");

    b.healthStatus = 200;
    await waitFor(async () => (await states("checked")).get(b.address) === "healthy", { what: "b readmitted", timeoutMs: 10_000, intervalMs: 50 });
    for (let i = 0; i < 20; i++) await get(edge.host, edge.port, "checked.test");
    assert.ok(b.hits > before, "a readmitted target gets requests again");
  });

  test("a draining target gets no new request", async () => {
    const a = await app("dr-a");
    const b = await app("dr-b");
    await pool("draining", { targets: [{ address: a.address }, { address: b.address }] });
    for (let i = 0; i < 10; i++) await get(edge.host, edge.port, "draining.test");
    assert.ok(b.hits > 0);
    const p = await fleet.api("PUT", "/v1/pools/draining?wait=applied&timeout=5000", { targets: [{ address: a.address }, { address: b.address, drain: true }] });
    assert.equal(p.body.complete, true, p.text);
    const before = b.hits;
    for (let i = 0; i < 50; i++) assert.equal((await get(edge.host, edge.port, "draining.test")).status, 200);
    assert.equal(b.hits, before);
    assert.equal((await states("draining")).get(b.address), "draining");
  });

  test("slow start ramps a target's share over the window", async () => {
    const a = await app("ss-a");
    const b = await app("ss-b");
    await pool("ramp", { targets: [{ address: a.address }], slowStart: "3s" });
    const p = await fleet.api("PUT", "/v1/pools/ramp?wait=applied&timeout=5000", { targets: [{ address: a.address }, { address: b.address }], slowStart: "3s" });
    assert.equal(p.body.complete, true, p.text);
    const t0 = Date.now();
    const share = async (ms: number) => {
      const [ha, hb] = [a.hits, b.hits];
      const end = Date.now() + ms;
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      for (let n = 0; n < 5000 && Date.now() < end; n++) await get(edge.host, edge.port, "ramp.test", agent);
      agent.destroy();
      return (b.hits - hb) / Math.max(1, b.hits - hb + a.hits - ha);
    };
    const early = await share(700);
    await waitFor(() => Date.now() - t0 > 3200, { what: "the window", timeoutMs: 10_000, intervalMs: 50 });
    const late = await share(700);
    assert.ok(early < 0.35, `early share ${early.toFixed(2)}`);
    assert.ok(late > 0.4, `late share ${late.toFixed(2)}`);
  });
});
