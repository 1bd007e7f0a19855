import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Pool, State } from "@switchyard/shared";
import { HealthRegistry } from "../src/serve/health/registry.js";
import { compileTable, type ForwardTarget, type RouteTable } from "../src/serve/table.js";

/** A table with one pool `p` routed from `h.test`, compiled against `health`; retain() as a swap would. */
function table(health: HealthRegistry, pool: unknown, revision = 1): RouteTable {
  const t = compileTable(State.parse({ defaultUpstream: null, pools: { p: pool }, routes: { "h.test": { upstream: "p" } } }), revision, { health });
  health.retain(t.pools);
  return t;
}

const pick = (t: RouteTable): ForwardTarget => {
  const r = t.resolve("h.test", "/");
  assert.equal(r.kind, "target");
  return (r as Extract<typeof r, { kind: "target" }>).forward;
};

function shares(t: RouteTable, n: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = pick(t).address.key;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}

const A = "127.0.0.1:1001";
const B = "127.0.0.1:1002";
const C = "127.0.0.1:1003";
const D = "127.0.0.1:1004";

describe("pool model", () => {
  test("accepts the issue's pool JSON and refuses unknown fields and bad durations", () => {
    const ok = Pool.safeParse({
      targets: [{ address: A, weight: 1, drain: false }], keepalive: 64,
      healthCheck: { path: "/healthz", interval: "2s", timeout: "1s", healthyThreshold: 2, unhealthyThreshold: 2, expectStatus: "200-399" },
      passive: { consecutiveFailures: 3, ejectFor: "10s", maxEjectedPercent: 50 }, slowStart: "30s",
      retry: { on: ["502", "503", "504"], tries: 2 },
    });
    assert.equal(ok.success, true);
    assert.equal(Pool.safeParse({ targets: [{ address: A }], passive: { consecutiveFailures: 3, bogus: 1 } }).success, false);
    assert.equal(Pool.safeParse({ targets: [{ address: A }], healthCheck: { path: "/h", interval: "two seconds" } }).success, false);
    assert.equal(Pool.safeParse({ targets: [{ address: A }], retry: { on: ["500"] } }).success, false);
    assert.equal(Pool.safeParse({ targets: [{ address: A }], slowStart: 30 }).success, false);
    assert.equal(Pool.safeParse({ targets: [{ address: A }], healthCheck: { path: "/h", expectStatus: "2xx" } }).success, false);
  });

  test("a pool that never set passive or drain stores neither (the agent applies the defaults)", () => {
    assert.deepEqual(Pool.parse({ targets: [{ address: A }] }), { targets: [{ address: A, weight: 1 }] });
  });
});

describe("pool health", () => {
  test("a draining target gets no new request", () => {
    const t = table(new HealthRegistry(), { targets: [{ address: A }, { address: B, drain: true }] });
    assert.deepEqual([...shares(t, 50).keys()], [A]);
  });

  test("consecutive failures eject a target by address, and the ejection survives a reordering revision", () => {
    const health = new HealthRegistry();
    const t1 = table(health, { targets: [{ address: A }, { address: B }, { address: C }] });
    const b = t1.pools.get("p")?.members.find((m) => m.key === B)?.resolution.forward as ForwardTarget;
    for (let i = 0; i < 3; i++) b.chooser?.failed(b, "connect ECONNREFUSED");
    assert.equal(health.get("p", B)?.state(Date.now()), "ejected");
    assert.equal(shares(t1, 30).has(B), false);
    // Same targets, new order and weights: still ejected (keyed by address, not position).
    const t2 = table(health, { targets: [{ address: B, weight: 3 }, { address: C }, { address: A }] }, 2);
    assert.equal(shares(t2, 30).has(B), false);
    assert.deepEqual(health.report()[0]?.targets.find((x) => x.address === B)?.state, "ejected");
  });

  test("maxEjectedPercent bounds the ejected targets, and every target out routes to all (panic)", () => {
    const health = new HealthRegistry();
    const t = table(health, { targets: [{ address: A }, { address: B }, { address: C }, { address: D }], passive: { consecutiveFailures: 1, maxEjectedPercent: 50 } });
    for (const m of t.pools.get("p")?.members ?? []) m.resolution.forward.chooser?.failed(m.resolution.forward, "reset");
    const states = health.report()[0]?.targets.map((x) => x.state) ?? [];
    assert.equal(states.filter((s) => s === "ejected").length, 2);

    const one = new HealthRegistry();
    const t1 = table(one, { targets: [{ address: A }, { address: B }], passive: { consecutiveFailures: 1, maxEjectedPercent: 100 } });
    for (const m of t1.pools.get("p")?.members ?? []) m.resolution.forward.chooser?.failed(m.resolution.forward, "reset");
    assert.deepEqual([...shares(t1, 20).keys()].sort(), [A, B]);
    assert.deepEqual(one.panics(), ["p"]);
  });

  test("an ejected target comes back after ejectFor through slow start", async () => {
    const health = new HealthRegistry();
    const t = table(health, { targets: [{ address: A }, { address: B }], passive: { consecutiveFailures: 1, ejectFor: "200ms" }, slowStart: "10s" });
    const b = t.pools.get("p")?.members.find((m) => m.key === B)?.resolution.forward as ForwardTarget;
    b.chooser?.failed(b, "reset");
    assert.equal(health.get("p", B)?.state(Date.now()), "ejected");
    const until = Date.now() + 5000;
    while (health.get("p", B)?.state(Date.now()) === "ejected" && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(health.get("p", B)?.state(Date.now()), "slow_start");
    // At the start of its ramp, B weighs about a tenth of A.
    const s = shares(t, 220);
    assert.ok((s.get(B) ?? 0) <= 40, `B took ${s.get(B)} of 220`);
  });

  test("a target added to a serving pool slow-starts; at agent start nobody does", () => {
    const health = new HealthRegistry();
    table(health, { targets: [{ address: A }], slowStart: "30s" });
    assert.equal(health.get("p", A)?.state(Date.now()), "healthy");
    const t2 = table(health, { targets: [{ address: A }, { address: B }], slowStart: "30s" }, 2);
    assert.equal(health.get("p", B)?.state(Date.now()), "slow_start");
    const s = shares(t2, 200);
    assert.ok((s.get(B) ?? 0) < 40, `B took ${s.get(B)} of 200 at the start of its ramp`);
  });

  test("next() never returns a target already tried, and runs out", () => {
    const t = table(new HealthRegistry(), { targets: [{ address: A }, { address: B }, { address: C }] });
    const chooser = pick(t).chooser;
    const tried = [A];
    for (let i = 0; i < 2; i++) {
      const n = chooser?.next(tried);
      assert.ok(n !== undefined && !tried.includes(n.address.key));
      tried.push(n.address.key);
    }
    assert.equal(chooser?.next(tried), undefined);
  });

  test("a target removed from the pool is forgotten; one re-added starts afresh", () => {
    const health = new HealthRegistry();
    const t = table(health, { targets: [{ address: A }, { address: B }] });
    const b = t.pools.get("p")?.members.find((m) => m.key === B)?.resolution.forward as ForwardTarget;
    for (let i = 0; i < 3; i++) b.chooser?.failed(b, "reset");
    table(health, { targets: [{ address: A }] }, 2);
    assert.equal(health.get("p", B), undefined);
    table(health, { targets: [{ address: A }, { address: B }] }, 3);
    assert.notEqual(health.get("p", B)?.state(Date.now()), "ejected");
  });
});
