import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DefaultBody, Host, Pool, Route, State, Upstream, ValidationError, hostProblem, normalizeHost,
  parseAddress, parseOrThrow, referenceProblems,
} from "@switchyard/shared";

function rejects(schema: Parameters<typeof parseOrThrow>[0], value: unknown, field: string | undefined, text: RegExp) {
  assert.throws(
    () => parseOrThrow(schema, value),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
      assert.equal(err.field, field);
      assert.match(err.message, text);
      return true;
    },
  );
}

describe("addresses", () => {
  test("accepts host:port, [ipv6]:port, hostnames and absolute unix paths", () => {
    for (const ok of ["127.0.0.1:8080", "[::1]:80", "[2001:db8::1]:443", "blue:3000", "app-1.internal:65535", "unix:/run/app-2.sock"]) {
      assert.equal(parseAddress(ok).ok, true, ok);
    }
  });

  test("rejects the seed's typo 127.0.0.0.:38888 as a malformed IPv4 address", () => {
    const r = parseAddress("127.0.0.0.:38888");
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : "", /not a valid IPv4/);
    assert.equal(parseAddress("256.1.1.1:80").ok, false);
    assert.equal(parseAddress("1.2.3:80").ok, false);
  });

  test("rejects ports outside 1-65535 and non-numeric ports", () => {
    for (const bad of ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http", "127.0.0.1:", "127.0.0.1:-1"]) {
      assert.equal(parseAddress(bad).ok, false, bad);
    }
  });

  test("rejects relative unix paths, unbracketed IPv6 and bad IPv6", () => {
    assert.match((parseAddress("unix:relative.sock") as { message: string }).message, /absolute/);
    assert.equal(parseAddress("::1:80").ok, false);
    assert.equal(parseAddress("[::g]:80").ok, false);
    assert.equal(parseAddress("[::1]80").ok, false);
  });

  test("rejects CR, LF, NUL and spaces", () => {
    for (const bad of ["127.0.0.1:80\r\n", "unix:/run/a b.sock", "host\0:80", "a\nb:80"]) {
      assert.equal(parseAddress(bad).ok, false, JSON.stringify(bad));
    }
  });
});

describe("upstreams", () => {
  test("accepts a pool name, an address and a split summing to 100", () => {
    for (const ok of ["blue", "green.v2", "pool_1", "127.0.0.1:9", "unix:/run/app-2.sock", { split: { blue: 90, green: 10 } }, { split: { blue: 100, green: 0 } }]) {
      assert.doesNotThrow(() => parseOrThrow(Upstream, ok), JSON.stringify(ok));
    }
  });

  test("rejects a split summing to 99, non-integer weights and unknown fields", () => {
    rejects(Upstream, { split: { blue: 90, green: 9 } }, "split", /sum to 100, not 99/);
    rejects(Upstream, { split: { blue: 50.5, green: 49.5 } }, "split.blue", /expected int/i);
    rejects(Upstream, { split: { blue: 100 }, extra: 1 }, "extra", /unknown field/);
    rejects(Upstream, { split: { blue: 101, green: -1 } }, "split.blue", /100|less/i);
  });

  test("rejects glob and hash-tag characters in pool names", () => {
    for (const bad of ["blue*", "b?lue", "[blue]", "{blue}", "Blue", "-blue", ""]) {
      assert.throws(() => parseOrThrow(Upstream, bad), ValidationError, bad);
    }
  });

  test("rejects a __proto__ key in a split without polluting Object.prototype", () => {
    const body = JSON.parse('{"split":{"__proto__":{"polluted":1},"blue":100}}');
    assert.throws(() => parseOrThrow(Upstream, body), ValidationError);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("pools", () => {
  test("defaults a target's weight to 1 and keeps keepalive", () => {
    const pool = parseOrThrow(Pool, { targets: [{ address: "127.0.0.1:1" }, { address: "unix:/s.sock", weight: 5 }], keepalive: 16 });
    assert.deepEqual(pool.targets.map((t) => t.weight), [1, 5]);
    assert.equal(pool.keepalive, 16);
  });

  test("rejects empty pools, over 256 targets, weights outside 1-100 and unknown fields", () => {
    rejects(Pool, { targets: [] }, "targets", /at least|too small|>=1/i);
    const many = Array.from({ length: 257 }, (_, i) => ({ address: `127.0.0.1:${i + 1}` }));
    rejects(Pool, { targets: many }, "targets", /256|too big/i);
    rejects(Pool, { targets: [{ address: "127.0.0.1:1", weight: 0 }] }, "targets.0.weight", /1|small/i);
    rejects(Pool, { targets: [{ address: "127.0.0.1:1", weight: 101 }] }, "targets.0.weight", /100|big/i);
    rejects(Pool, { targets: [{ address: "127.0.0.1:1", port: 2 }] }, "targets.0.port", /unknown field/);
    rejects(Pool, { targets: [{ address: "127.0.0.0.:38888" }] }, "targets.0.address", /not a valid IPv4/);
  });
});

describe("hosts", () => {
  test("normalizes case, port and trailing dot", () => {
    assert.equal(normalizeHost("Demo.Local:8080"), "demo.local");
    assert.equal(normalizeHost("demo.local."), "demo.local");
    assert.equal(parseOrThrow(Host, "API.Example.COM."), "api.example.com");
  });

  test("accepts a leading wildcard label and IPv4 literals", () => {
    assert.equal(hostProblem("*.example.com"), undefined);
    assert.equal(hostProblem("127.0.0.2"), undefined);
  });

  test("rejects a CRLF in a host, '*' in the middle, glob characters and bad labels", () => {
    assert.match(hostProblem("a.com\r\nX-Evil: 1") ?? "", /CR, LF/);
    assert.match(hostProblem("a.*.com") ?? "", /leading/);
    for (const bad of ["a*.com", "*a.com", "a?.com", "a[1].com", "{a}.com", "a..com", "-a.com", "a b.com", "", "1.2.3.4.5"]) {
      assert.ok(hostProblem(bad), `expected a problem for ${JSON.stringify(bad)}`);
    }
  });
});

describe("routes", () => {
  test("accepts { upstream } and { rules } with distinct paths", () => {
    assert.doesNotThrow(() => parseOrThrow(Route, { upstream: "blue" }));
    assert.doesNotThrow(() => parseOrThrow(Route, { rules: [{ path: "/api/", upstream: "blue" }, { path: "/", upstream: "unix:/run/a.sock" }] }));
  });

  test("rejects both or neither of upstream and rules, duplicate and relative paths", () => {
    rejects(Route, {}, undefined, /exactly one/);
    rejects(Route, { upstream: "blue", rules: [{ path: "/", upstream: "blue" }] }, undefined, /exactly one/);
    rejects(Route, { rules: [{ path: "/a", upstream: "x" }, { path: "/a", upstream: "y" }] }, "rules.1.path", /duplicate/);
    rejects(Route, { rules: [{ path: "api/", upstream: "x" }] }, "rules.0.path", /start with/);
    rejects(Route, { rules: [{ path: "/a\r\n", upstream: "x" }] }, "rules.0.path", /CR, LF/);
    rejects(Route, { upstream: "blue", backup: "green" }, "backup", /unknown field/);
    rejects(Route, { upstream: "unix:relative.sock" }, "upstream", /absolute/);
  });

  test("rejects a __proto__ key in a route body", () => {
    rejects(Route, JSON.parse('{"upstream":"blue","__proto__":{"x":1}}'), "__proto__", /forbidden key/);
  });

  test("accepts a null default and rejects a missing one", () => {
    assert.deepEqual(parseOrThrow(DefaultBody, { upstream: null }), { upstream: null });
    rejects(DefaultBody, {}, "upstream", /./);
  });
});

describe("state references", () => {
  test("reports a route or default naming a pool that does not exist", () => {
    const state = parseOrThrow(State, {
      defaultUpstream: { split: { blue: 50, gone: 50 } },
      pools: { blue: { targets: [{ address: "127.0.0.1:1" }] } },
      routes: { "a.com": { rules: [{ path: "/", upstream: "missing" }] }, "b.com": { upstream: "127.0.0.1:2" } },
    });
    const problems = referenceProblems(state).map((p) => p.message);
    assert.deepEqual(problems, ["default upstream names unknown pool 'gone'", "route 'a.com' names unknown pool 'missing'"]);
  });
});
