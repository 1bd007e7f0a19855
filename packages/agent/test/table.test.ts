import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { State } from "@switchyard/shared";
import { seeded } from "@switchyard/testkit";
import { SmoothWeightedRoundRobin, compileTable, type Resolution, type RouteTable } from "../src/serve/table.js";

const compile = (s: unknown, random?: () => number) => compileTable(State.parse(s), 7, random ? { random } : {});

const pools = (...names: string[]) =>
  Object.fromEntries(names.map((n, i) => [n, { targets: [{ address: `10.0.0.${i + 1}:80` }] }]));

/** The pool (or address) a request lands on: what most routing tests care about. */
const label = (t: RouteTable, host: string, path = "/") => {
  const r = t.resolve(host, path);
  return r.kind === "target" ? r.upstream : r.kind;
};

describe("host routing", () => {
  const t = compile({
    defaultUpstream: "fallback",
    pools: pools("exact", "wide", "narrow", "fallback"),
    routes: {
      "api.example.com": { upstream: "exact" },
      "*.example.com": { upstream: "wide" },
      "*.eu.example.com": { upstream: "narrow" },
      "API.Mixed.Example.": { upstream: "exact" },
    },
  });

  test("routes an exact host before any wildcard", () => {
    assert.equal(label(t, "api.example.com"), "exact");
  });

  test("matches a wildcard one or more labels deep", () => {
    assert.equal(label(t, "a.example.com"), "wide");
    assert.equal(label(t, "a.b.example.com"), "wide");
  });

  test("routes the longest wildcard first", () => {
    assert.equal(label(t, "shop.eu.example.com"), "narrow");
    assert.equal(label(t, "x.shop.eu.example.com"), "narrow");
    assert.equal(label(t, "eu.example.com"), "wide");
  });

  test("does not match a wildcard's bare suffix", () => {
    assert.equal(label(t, "example.com"), "fallback");
  });

  test("sends unknown and empty hosts to the default upstream", () => {
    assert.equal(label(t, "other.org"), "fallback");
    assert.equal(label(t, ""), "fallback");
    assert.equal(label(t, "[::1]"), "fallback");
  });

  test("matches route keys written with case and a trailing dot", () => {
    assert.equal(label(t, "api.mixed.example"), "exact");
  });

  test("answers no_route when nothing matches and there is no default", () => {
    const bare = compile({ defaultUpstream: null, pools: pools("a"), routes: { "a.test": { upstream: "a" } } });
    assert.deepEqual(bare.resolve("b.test", "/"), { kind: "no_route" });
    assert.deepEqual(bare.resolve("", "/"), { kind: "no_route" });
  });
});

describe("path rules", () => {
  const rules = (defaultUpstream: string | null) =>
    compile({
      defaultUpstream,
      pools: pools("root", "api", "v2", "fallback"),
      routes: {
        "r.test": {
          rules: [
            { path: "/api", upstream: "api" },
            { path: "/api/v2/", upstream: "v2" },
            { path: "/static", upstream: "root" },
          ],
        },
      },
    });

  test("picks the longest matching prefix whatever the declaration order", () => {
    const t = rules(null);
    assert.equal(label(t, "r.test", "/api/v2/users"), "v2");
    assert.equal(label(t, "r.test", "/api/v1/users"), "api");
    assert.equal(label(t, "r.test", "/api"), "api");
    assert.equal(label(t, "r.test", "/static/app.js"), "root");
  });

  test("matches prefixes as plain strings, like nginx", () => {
    assert.equal(label(rules(null), "r.test", "/apix"), "api");
  });

  test("falls back to the default upstream when no rule matches, then to no_route", () => {
    assert.equal(label(rules("fallback"), "r.test", "/other"), "fallback");
    assert.equal(label(rules(null), "r.test", "/other"), "no_route");
  });
});

describe("upstream kinds", () => {
  test("resolves a direct address to a single target labelled by the address", () => {
    const t = compile({ defaultUpstream: "[::1]:8080", pools: {}, routes: { "u.test": { upstream: "unix:/run/app.sock" } } });
    const r = t.resolve("x", "/");
    assert.equal(r.kind, "target");
    const target = { kind: "tcp", host: "::1", port: 8080, key: "[::1]:8080" };
    // No pool: no keepalive setting (the idle cap follows the load), and no name a client may be told.
    assert.deepEqual(r, { kind: "target", upstream: "[::1]:8080", target, forward: { address: target, keepalive: undefined, upstreamLabel: "[::1]:8080", pool: undefined, health: undefined, chooser: undefined } });
    const u = t.resolve("u.test", "/") as Extract<Resolution, { kind: "target" }>;
    assert.deepEqual(u.target, { kind: "unix", path: "/run/app.sock", key: "unix:/run/app.sock" });
  });

  test("carries a pool's keepalive and leaves it unset otherwise", () => {
    const t = compile({
      defaultUpstream: null,
      pools: { k: { targets: [{ address: "10.0.0.1:80" }], keepalive: 4 }, d: { targets: [{ address: "10.0.0.2:80" }] } },
      routes: { "k.test": { upstream: "k" }, "d.test": { upstream: "d" } },
    });
    assert.equal((t.resolve("k.test", "/") as { keepalive?: number }).keepalive, 4);
    assert.equal("keepalive" in t.resolve("d.test", "/"), false);
    const forward = (host: string) => (t.resolve(host, "/") as Extract<Resolution, { kind: "target" }>).forward;
    assert.deepEqual([forward("k.test").keepalive, forward("k.test").pool], [4, "k"]);
    assert.deepEqual([forward("d.test").keepalive, forward("d.test").pool], [undefined, "d"]);
  });

  test("reports revision, counts and every address it can resolve to", () => {
    const t = compile({
      defaultUpstream: "10.9.9.9:80",
      pools: { a: { targets: [{ address: "10.0.0.1:80" }, { address: "unix:/s.sock" }] }, b: { targets: [{ address: "10.0.0.1:80" }] } },
      routes: { "a.test": { upstream: "a" }, "*.b.test": { upstream: "b" }, "c.test": { upstream: "10.8.8.8:81" } },
    });
    assert.equal(t.revision, 7);
    assert.equal(t.routeCount, 3);
    assert.equal(t.poolCount, 2);
    assert.deepEqual([...t.addresses].sort(), ["10.0.0.1:80", "10.8.8.8:81", "10.9.9.9:80", "unix:/s.sock"]);
  });

  test("refuses a state that names an unknown pool", () => {
    assert.throws(() => compile({ defaultUpstream: null, pools: {}, routes: { "a.test": { upstream: "ghost" } } }), /route 'a\.test' names unknown pool 'ghost'/);
    assert.throws(() => compile({ defaultUpstream: "ghost", pools: {}, routes: {} }), /defaultUpstream names unknown pool 'ghost'/);
  });
});

describe("balancing", () => {
  const weighted = (weights: Record<string, number>) =>
    compile({
      defaultUpstream: "p",
      pools: { p: { targets: Object.entries(weights).map(([host, weight]) => ({ address: `${host}:80`, weight })) } },
      routes: { "a.test": { upstream: "p" }, "b.test": { upstream: "p" } },
    });
  const picks = (t: RouteTable, n: number, host = "x") =>
    Array.from({ length: n }, () => (t.resolve(host, "/") as Extract<Resolution, { kind: "target" }>).target.key.split(":")[0]);

  test("gives nginx's smooth sequence for weights 5:1:1", () => {
    assert.deepEqual(picks(weighted({ a: 5, b: 1, c: 1 }), 14), ["a", "a", "b", "a", "c", "a", "a", "a", "a", "b", "a", "c", "a", "a"]);
  });

  test("rotates evenly over equal weights (default weight 1)", () => {
    const t = compile({ defaultUpstream: "p", pools: { p: { targets: [{ address: "a:80" }, { address: "b:80" }, { address: "c:80" }] } }, routes: {} });
    assert.deepEqual(picks(t, 6), ["a", "b", "c", "a", "b", "c"]);
  });

  test("chooses each target exactly its weight times per cycle", () => {
    const t = weighted({ a: 3, b: 7, c: 13 });
    const counts: Record<string, number> = {};
    for (const k of picks(t, 23 * 4)) counts[k as string] = (counts[k as string] ?? 0) + 1;
    assert.deepEqual(counts, { a: 12, b: 28, c: 52 });
  });

  test("shares one rotation per pool across every route that uses it", () => {
    const t = weighted({ a: 1, b: 1 });
    assert.deepEqual([...picks(t, 1, "a.test"), ...picks(t, 1, "b.test"), ...picks(t, 1, "a.test")], ["a", "b", "a"]);
  });

  test("starts a freshly compiled table from a fresh rotation", () => {
    assert.deepEqual(picks(weighted({ a: 5, b: 1, c: 1 }), 3), ["a", "a", "b"]);
    assert.deepEqual(picks(weighted({ a: 5, b: 1, c: 1 }), 3), ["a", "a", "b"]);
  });

  test("splits pools roughly by weight and never picks a weight-0 pool", () => {
    const t = compile(
      {
        defaultUpstream: { split: { blue: 90, green: 10, dark: 0 } },
        pools: pools("blue", "green", "dark"),
        routes: {},
      },
      seeded(42),
    );
    const counts: Record<string, number> = { blue: 0, green: 0, dark: 0 };
    for (let i = 0; i < 10_000; i++) {
      const pool = label(t, "x");
      counts[pool] = (counts[pool] ?? 0) + 1;
    }
    assert.equal(counts.dark, 0);
    assert.ok(Math.abs((counts.green as number) - 1000) < 150, `green got ${counts.green} of 10000`);
    assert.equal((counts.blue as number) + (counts.green as number), 10_000);
  });

  test("balances within the pool a split picked", () => {
    const t = compile(
      {
        defaultUpstream: null,
        pools: { one: { targets: [{ address: "a:80" }, { address: "b:80" }] } },
        routes: { "s.test": { upstream: { split: { one: 100 } } } },
      },
      seeded(1),
    );
    assert.deepEqual(picks(t, 4, "s.test"), ["a", "b", "a", "b"]);
  });

  test("exposes the balancer for other users and rejects an empty one", () => {
    const b = new SmoothWeightedRoundRobin([{ item: "x", weight: 2 }, { item: "y", weight: 1 }]);
    assert.deepEqual([b.pick(), b.pick(), b.pick()], ["x", "y", "x"]);
    assert.throws(() => new SmoothWeightedRoundRobin([]), /at least one target/);
  });
});

describe("scale", () => {
  test("resolves 10k exact and 10k wildcard routes without scanning them", () => {
    const routes: Record<string, { upstream: string }> = {};
    for (let i = 0; i < 10_000; i++) {
      routes[`host${i}.example.com`] = { upstream: "p" };
      routes[`*.tenant${i}.example.net`] = { upstream: "q" };
    }
    const t = compile({ defaultUpstream: null, pools: pools("p", "q"), routes });
    assert.equal(t.routeCount, 20_000);
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) {
      assert.equal(label(t, `host${i}.example.com`), "p");
      assert.equal(label(t, `a.b.tenant${i}.example.net`), "q");
      assert.equal(label(t, `nothing${i}.example.org`), "no_route");
    }
    // 30k lookups; a per-request scan of 20k routes would need ~600M comparisons, far past this.
    const ms = performance.now() - started;
    assert.ok(ms < 2000, `30k lookups took ${ms.toFixed(0)} ms`);
  });
});
