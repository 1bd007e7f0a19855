// pools, pool, routes, route, default and audit against the real controller app (in-process)
// backed by a private Redis: what each command sends is read back from the store itself.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { READ, WRITE } from "../../controller/test/fixture.js";
import { cli } from "./helpers.js";
import { useRealController } from "./real-controller.js";

const real = useRealController();
const env = (token = WRITE) => real.env(token);
// Pools, routes and splits are null-prototype objects (shared dict.ts): compared here as plain JSON.
const state = async () => {
  const s = (await real.fx.reader.snapshot()).state;
  return JSON.parse(JSON.stringify(s)) as typeof s;
};

async function ok(argv: string[], token = WRITE): Promise<string> {
  const r = await cli(argv, env(token));
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  assert.equal(r.stderr, "");
  return r.stdout;
}

describe("pools and pool get|set|delete (real controller)", () => {
  test("pool set writes targets, weights and keepalive as the API stores them; pools and pool get print them back", async () => {
    assert.equal(await ok(["pool", "set", "blue", "127.0.0.1:9001", "unix:/run/blue.sock=3", "--keepalive", "8"]), "pool blue: 2 targets at revision 1\n");
    assert.deepEqual((await state()).pools.blue, { targets: [{ address: "127.0.0.1:9001", weight: 1 }, { address: "unix:/run/blue.sock", weight: 3 }], keepalive: 8 });
    await ok(["pool", "set", "green", "[::1]:9002"]);
    await ok(["route", "set", "demo.local", "blue"]);
    await ok(["default", "set", "blue=50,green=50"]);

    const list = (await ok(["pools"], READ)).trimEnd().split("\n");
    assert.match(list[0] ?? "", /^NAME\s+TARGETS\s+KEEPALIVE\s+USED BY$/);
    assert.match(list[1] ?? "", /^blue\s+127\.0\.0\.1:9001, unix:\/run\/blue\.sock=3\s+8\s+demo\.local, \(default\)$/);
    assert.match(list[2] ?? "", /^green\s+\[::1\]:9002\s+-\s+\(default\)$/);
    const one = await ok(["pool", "get", "blue"], READ);
    assert.match(one, /^pool\s+blue$/m);
    assert.match(one, /^keepalive\s+8$/m);
    assert.match(one, /^unix:\/run\/blue\.sock\s+3$/m);
    assert.deepEqual(JSON.parse(await ok(["pool", "get", "blue", "--json"], READ)).targets[1], { address: "unix:/run/blue.sock", weight: 3 });
    assert.deepEqual(Object.keys(JSON.parse(await ok(["pools", "--json"], READ)).pools).sort(), ["blue", "green"]);
  });

  test("pool delete: 409 while in use (names who), then deleted once unused", async () => {
    await ok(["pool", "set", "blue", "127.0.0.1:9001"]);
    await ok(["route", "set", "demo.local", "blue"]);
    const refused = await cli(["pool", "delete", "blue"], env());
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: .*demo\.local/);
    await ok(["route", "delete", "demo.local"]);
    assert.equal(await ok(["pool", "delete", "blue"]), "pool blue deleted at revision 4\n");
    assert.deepEqual((await state()).pools, {});
  });

  test("a bad target is refused by the controller with the field named, and nothing is written", async () => {
    const r = await cli(["pool", "set", "blue", "127.0.0.0.:38888"], env());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*\(field: targets\.0\.address\)\n$/);
    assert.equal((await real.fx.reader.snapshot()).revision, 0);
  });
});

describe("routes and route get|set|delete (real controller)", () => {
  test("route set takes one upstream or path rules; routes and route get print them back", async () => {
    await ok(["pool", "set", "blue", "127.0.0.1:9001"]);
    await ok(["pool", "set", "green", "127.0.0.1:9002"]);
    assert.equal(await ok(["route", "set", "api.example.com", "--rule", "/api/=green", "--rule", "/=blue=90,green=10"]), "api.example.com -> /api/ -> green; / -> blue=90,green=10 at revision 3\n");
    assert.deepEqual((await state()).routes["api.example.com"], { rules: [{ path: "/api/", upstream: "green" }, { path: "/", upstream: { split: { blue: 90, green: 10 } } }] });
    await ok(["route", "set", "demo.local", "unix:/run/app.sock"]);
    const list = await ok(["routes"], READ);
    assert.match(list, /^api\.example\.com\s+\/api\/ -> green; \/ -> blue=90,green=10$/m);
    assert.match(list, /^demo\.local\s+unix:\/run\/app\.sock$/m);
    const one = await ok(["route", "get", "api.example.com"], READ);
    assert.match(one, /^\/api\/\s+green$/m);
    assert.match(one, /^\/\s+blue=90,green=10$/m);
    assert.equal(await ok(["route", "get", "demo.local"], READ), "route     demo.local\nupstream  unix:/run/app.sock\n");
    assert.equal(await ok(["route", "delete", "demo.local"]), "route demo.local deleted at revision 5\n");
    const gone = await cli(["route", "get", "demo.local"], env(READ));
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^error: .*demo\.local/);
  });

  test("route set needs exactly one of UPSTREAM and --rule (usage error, nothing sent)", async () => {
    for (const argv of [["route", "set", "a.local"], ["route", "set", "a.local", "blue", "--rule", "/=blue"]]) {
      const r = await cli(argv, env());
      assert.equal(r.code, 2, argv.join(" "));
      assert.equal(r.stderr, "error: give either UPSTREAM or one or more --rule PATH=UPSTREAM\n");
    }
    assert.equal((await real.fx.reader.snapshot()).revision, 0);
  });

  test("--if-match writes only at the expected revision: 412 otherwise, nothing written", async () => {
    await ok(["pool", "set", "blue", "127.0.0.1:9001"]);
    const stale = await cli(["route", "set", "demo.local", "blue", "--if-match", "0"], env());
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /^error: /);
    assert.equal((await state()).routes["demo.local"], undefined);
    assert.equal(await ok(["route", "set", "demo.local", "blue", "--if-match", "1"]), "demo.local -> blue at revision 2\n");
  });
});

describe("default [get|set|unset] (real controller)", () => {
  test("set, get (bare and as a subcommand) and unset", async () => {
    await ok(["pool", "set", "blue", "127.0.0.1:9001"]);
    assert.equal(await ok(["default"], READ), "default  (none) (unmatched hosts get 404 no_route)\n");
    assert.equal(await ok(["default", "set", "blue"]), "default -> blue at revision 2\n");
    assert.equal(await ok(["default", "get"], READ), "default  blue\n");
    assert.deepEqual(JSON.parse(await ok(["default", "--json"], READ)), { revision: 2, upstream: "blue" });
    assert.equal(await ok(["default", "unset"]), "default unset at revision 3\n");
    assert.equal((await state()).defaultUpstream, null);
  });
});

describe("audit (real controller)", () => {
  test("newest first, with actor, action, target and before -> after; --limit bounds it", async () => {
    await ok(["pool", "set", "blue", "127.0.0.1:9001"]);
    await ok(["pool", "set", "green", "127.0.0.1:9002"]);
    await ok(["route", "set", "demo.local", "blue"]);
    await ok(["switch", "demo.local", "green"]);
    const rows = (await ok(["audit"], READ)).trimEnd().split("\n");
    assert.match(rows[0] ?? "", /^REV\s+AT\s+ACTOR\s+ACTION\s+TARGET\s+CHANGE$/);
    assert.match(rows[1] ?? "", /^4\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+ops\s+route\.put\s+demo\.local\s+blue -> green$/);
    assert.match(rows[2] ?? "", /^3\s+\S+\s+ops\s+route\.put\s+demo\.local\s+\(none\) -> blue$/);
    assert.match(rows[4] ?? "", /^1\s+\S+\s+ops\s+pool\.put\s+blue\s+\(none\) -> 127\.0\.0\.1:9001$/);
    const two = JSON.parse(await ok(["audit", "--limit", "2", "--json"], READ)) as { revision: number }[];
    assert.deepEqual(two.map((r) => r.revision), [4, 3]);
    const bad = await cli(["audit", "--limit", "0"], env(READ));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /limit is a whole number from 1 to 1000/);
  });
});

describe("--json errors (real controller)", () => {
  test("API, usage and network errors print one JSON document on stderr with the same exit codes", async () => {
    const api = await cli(["--json", "route", "set", "demo.local", "nosuchpool"], env());
    assert.equal(api.code, 1);
    assert.equal(api.stdout, "");
    assert.deepEqual(JSON.parse(api.stderr), { error: "invalid", message: "pool 'nosuchpool' does not exist", status: 400, field: "upstream" });
    const usage = await cli(["switch", "demo.local", "--json"], env());
    assert.equal(usage.code, 2);
    assert.deepEqual(JSON.parse(usage.stderr), { error: "usage", message: "missing required argument 'upstream'" });
    const unknown = await cli(["--json", "bogus"], env());
    assert.equal(unknown.code, 2);
    assert.equal(JSON.parse(unknown.stderr).error, "usage");
    const noToken = await cli(["--json", "pools"], { SWITCHYARD_URL: real.url });
    assert.equal(noToken.code, 2);
    assert.deepEqual(JSON.parse(noToken.stderr), { error: "usage", message: "no API token: pass --token or set SWITCHYARD_TOKEN" });
    const down = await cli(["--json", "--url", "http://127.0.0.1:9", "pools"], env());
    assert.equal(down.code, 1);
    assert.equal(JSON.parse(down.stderr).error, "unreachable");
  });
});
