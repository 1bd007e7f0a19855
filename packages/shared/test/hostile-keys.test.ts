import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import {
  CorruptState, EMPTY_STATE, Host, MIN_LOG_CAP, ProbeReport, State, StoreReader, StoreWriter, Upstream, ValidationError,
  applyOps, buildKeys, hostProblem, parseOrThrow, type Op,
} from "@switchyard/shared";
import { randomPrefix, startRedis, type RedisHandle } from "@switchyard/testkit";

/**
 * Hosts and pool names are user data, and so are the keys of every object built from them. A
 * plain object treats some keys specially: `obj["__proto__"] = v` replaces its prototype, and
 * `obj["constructor"]` answers even when nobody set it. One accepted `PUT /v1/routes/__proto__`
 * once froze a whole fleet that way. These claims pin the fix: `__proto__` is refused, every
 * other name is an ordinary key, and every object keyed by user data has no prototype.
 */

// Valid DNS labels and pool names that name Object.prototype members (hosts are lower-cased).
const TRICKY_HOSTS = ["constructor", "toString", "hasOwnProperty", "valueOf", "prototype", "__defineGetter__", "isPrototypeOf"];
const TRICKY_POOLS = ["constructor", "prototype", "tostring", "valueof", "hasownproperty"];

const pool = { targets: [{ address: "127.0.0.1:1", weight: 1 }] };
function assertNoProto(...objects: object[]): void {
  for (const o of objects) assert.equal(Object.getPrototypeOf(o), null, "an object keyed by user data must have no prototype");
}

describe("hosts named like Object.prototype members", () => {
  test("__proto__ is refused as a host in every spelling that normalizes to it", () => {
    for (const raw of ["__proto__", "__PROTO__", "__proto__.", "__proto__:8080", "*.__proto__", "a.__proto__.example"]) {
      assert.match(hostProblem(raw) ?? "", /__proto__/, raw);
      assert.throws(() => parseOrThrow(Host, raw, "host"), (err: unknown) => err instanceof ValidationError && err.field === "host", raw);
    }
  });

  test("constructor, toString, hasOwnProperty, valueOf and prototype are ordinary hosts", () => {
    for (const raw of TRICKY_HOSTS) assert.equal(parseOrThrow(Host, raw, "host"), raw.toLowerCase());
  });

  test("pools named constructor or prototype can be split between, and a body may name them", () => {
    const split = parseOrThrow(Upstream, { split: { constructor: 40, prototype: 60 } });
    assert.deepEqual({ ...(split as { split: object }).split }, { constructor: 40, prototype: 60 });
  });
});

describe("objects keyed by user data have no prototype", () => {
  const raw = () => ({
    defaultUpstream: null,
    pools: Object.fromEntries(TRICKY_POOLS.map((p) => [p, pool])),
    routes: Object.fromEntries([
      ...TRICKY_HOSTS.map((h) => [h.toLowerCase(), { upstream: "constructor" }]),
      ["split.example", { upstream: { split: { constructor: 50, prototype: 50 } } }],
    ]),
  });

  test("a parsed state's pools, routes and splits are null-prototype objects holding every name", () => {
    const state = State.parse(raw());
    assertNoProto(state.pools, state.routes);
    assert.deepEqual(Object.keys(state.pools), TRICKY_POOLS);
    assert.equal(Object.keys(state.routes).length, TRICKY_HOSTS.length + 1);
    assertNoProto((state.routes["split.example"]?.upstream as { split: object }).split);
    // Nobody set these: a lookup must not find Object.prototype's members.
    assert.equal(state.routes.hasOwnProperty, undefined);
    assert.equal(state.routes["__lookupGetter__"], undefined);
    assert.equal(state.pools["__proto__"], undefined);
  });

  test("a __proto__ key in a record is a validation error naming it, never silently dropped", () => {
    const withProto = JSON.parse('{"defaultUpstream":null,"pools":{},"routes":{"__proto__":{"upstream":"127.0.0.1:1"}}}');
    const r = State.safeParse(withProto);
    assert.equal(r.success, false);
    assert.deepEqual(r.error?.issues.map((i) => i.path.join(".")), ["routes.__proto__"]);
    const report = JSON.parse('{"agent":"a","at":1,"results":{"__proto__":{"ok":true,"ms":1}}}');
    assert.equal(ProbeReport.safeParse(report).success, false);
  });

  test("applyOps keeps every key its own, including __proto__ handed to it unvalidated", () => {
    const ops: Op[] = [
      ...TRICKY_POOLS.map((name): Op => ({ op: "pool.put", name, pool })),
      ...TRICKY_HOSTS.map((h): Op => ({ op: "route.put", host: h.toLowerCase(), route: { upstream: "prototype" } })),
      { op: "route.put", host: "__proto__", route: { upstream: "constructor" } },
    ];
    const state = applyOps(EMPTY_STATE, ops);
    assertNoProto(state.pools, state.routes);
    assert.equal(Object.hasOwn(state.routes, "__proto__"), true, "__proto__ is an own key, not the prototype");
    assert.equal(Object.keys(state.routes).length, TRICKY_HOSTS.length + 1);
    assertNoProto(EMPTY_STATE.pools, EMPTY_STATE.routes);
    const next = applyOps(state, [{ op: "route.del", host: "constructor" }, { op: "pool.del", name: "valueof" }]);
    assertNoProto(next.routes, next.pools);
    assert.equal(next.routes.constructor, undefined);
    assert.equal(Object.keys(state.routes).length, TRICKY_HOSTS.length + 1, "the input is not mutated");
  });

  test("a route naming a pool called constructor that does not exist is refused", () => {
    assert.throws(() => applyOps(EMPTY_STATE, [{ op: "route.put", host: "a.com", route: { upstream: "constructor" } }]), CorruptState);
    assert.throws(() => applyOps(EMPTY_STATE, [{ op: "default.put", upstream: "tostring" }]), CorruptState);
  });
});

describe("snapshots of a Redis holding tricky names", () => {
  let server: RedisHandle;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  test("both snapshot readers return null-prototype objects with every name as an own key", async () => {
    const keys = buildKeys(randomPrefix());
    const writer = new StoreWriter(redis, keys, MIN_LOG_CAP);
    await writer.write([
      ...TRICKY_POOLS.map((name): Op => ({ op: "pool.put", name, pool })),
      ...TRICKY_HOSTS.map((h): Op => ({ op: "route.put", host: h.toLowerCase(), route: { upstream: { split: { constructor: 50, prototype: 50 } } } })),
      { op: "default.put", upstream: "tostring" },
    ], { actor: "t" });
    const reader = new StoreReader(redis, keys);
    for (const snap of [await reader.snapshot(), await reader.snapshotCooperative()]) {
      assertNoProto(snap.state.pools, snap.state.routes);
      assert.deepEqual(Object.keys(snap.state.pools).sort(), [...TRICKY_POOLS].sort());
      assert.deepEqual(Object.keys(snap.state.routes).sort(), TRICKY_HOSTS.map((h) => h.toLowerCase()).sort());
      assertNoProto((snap.state.routes["constructor" as string]?.upstream as { split: object }).split);
    }
  });

  test("a __proto__ route in Redis is refused as corrupt by both readers, not dropped or turned into a prototype", async () => {
    const keys = buildKeys(randomPrefix());
    const writer = new StoreWriter(redis, keys, MIN_LOG_CAP);
    await writer.write([{ op: "pool.put", name: "blue", pool }], { actor: "t" });
    await redis.hset(keys.routes, "__proto__", JSON.stringify({ upstream: "blue" }));
    const reader = new StoreReader(redis, keys);
    await assert.rejects(reader.snapshot(), (err: unknown) => err instanceof CorruptState && /__proto__/.test(err.message));
    await assert.rejects(reader.snapshotCooperative(), (err: unknown) => err instanceof CorruptState && /__proto__/.test(err.message));
  });
});
