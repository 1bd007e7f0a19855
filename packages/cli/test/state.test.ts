// apply, export, history, rollback, --dry-run and switch --create against the real controller app
// on a private Redis: what each command did is read back from the store itself.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { READ, WRITE } from "../../controller/test/fixture.js";
import { cli } from "./helpers.js";
import { useRealController } from "./real-controller.js";

const real = useRealController();
const env = (token = WRITE) => real.env(token);
const dir = mkdtempSync(join(tmpdir(), "switchyard-cli-"));
real.cleanup(() => rmSync(dir, { recursive: true, force: true }));
const revision = async () => (await real.fx.reader.snapshot()).revision;
const plainState = async () => JSON.parse(JSON.stringify((await real.fx.reader.snapshot()).state));

async function ok(argv: string[], token = WRITE): Promise<string> {
  const r = await cli(argv, env(token));
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  assert.equal(r.stderr, "");
  return r.stdout;
}

async function seed() {
  await ok(["pool", "set", "blue", "127.0.0.1:9001", "127.0.0.1:9003=3", "--keepalive", "8"]);
  await ok(["pool", "set", "green", "127.0.0.1:9002"]);
  await ok(["route", "set", "demo.local", "blue"]);
  await ok(["route", "set", "api.local", "--rule", "/api/=green", "--rule", "/=blue=90,green=10"]);
  await ok(["default", "set", "green"]);
}

describe("export and apply -f (real controller)", () => {
  test("an export followed by an apply is a no-op: no new revision", async () => {
    await seed();
    const yaml = await ok(["export"], READ);
    assert.match(yaml, /^# switchyard state at revision 5;/);
    const file = join(dir, "state.yaml");
    writeFileSync(file, yaml);
    for (const extra of [[], ["--prune"]]) {
      assert.equal(await ok(["apply", "-f", file, ...extra]), `the fleet already matches ${file}; nothing written (revision 5)\n`);
    }
    assert.equal(await revision(), 5);
    // The JSON export applies the same way.
    const jsonFile = join(dir, "state.json");
    writeFileSync(jsonFile, await ok(["export", "--json"], READ));
    assert.match(await ok(["apply", "-f", jsonFile]), /nothing written \(revision 5\)/);
    assert.equal(await revision(), 5);
    assert.deepEqual(parseYaml(yaml), { defaultUpstream: "green", pools: (await plainState()).pools, routes: (await plainState()).routes });
  });

  test("apply writes one revision and prints the diff; without --prune it keeps what the file does not name, --prune deletes it", async () => {
    await seed();
    const file = join(dir, "partial.yaml");
    writeFileSync(file, "routes:\n  demo.local:\n    upstream: green\n  new.local:\n    upstream: blue\n");
    const dry = await ok(["apply", "-f", file, "--dry-run"]);
    assert.equal(dry, "dry run at revision 5: 2 changes; nothing was written\n~ route demo.local: blue -> green\n+ route new.local: blue\n");
    assert.equal(await revision(), 5);
    assert.equal(await ok(["apply", "-f", file]), `applied ${file} at revision 6: 2 changes\n~ route demo.local: blue -> green\n+ route new.local: blue\n`);
    assert.deepEqual(Object.keys((await plainState()).routes).sort(), ["api.local", "demo.local", "new.local"]);
    writeFileSync(file, "pools:\n  blue:\n    targets: [{address: '127.0.0.1:9001'}]\nroutes:\n  demo.local: {upstream: blue}\n");
    const pruned = await ok(["apply", "-f", file, "--prune"]);
    assert.match(pruned, /^applied .* at revision 7: 6 changes\n/);
    assert.match(pruned, /^- pool green \(was 127\.0\.0\.1:9002\)$/m);
    assert.match(pruned, /^~ default: green -> \(none\)$/m);
    assert.deepEqual(await plainState(), { defaultUpstream: null, pools: { blue: { targets: [{ address: "127.0.0.1:9001", weight: 1 }] } }, routes: { "demo.local": { upstream: "blue" } } });
  });

  test("a missing or malformed file, or a refused state, fails with a clear message and writes nothing", async () => {
    await seed();
    let r = await cli(["apply", "-f", join(dir, "nope.yaml")], env());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: cannot read .*nope\.yaml: ENOENT\n$/);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "routes: [\n");
    r = await cli(["apply", "-f", bad], env());
    assert.match(r.stderr, /^error: .*bad\.yaml is not valid YAML or JSON/);
    writeFileSync(bad, "- a\n- b\n");
    r = await cli(["apply", "-f", bad], env());
    assert.match(r.stderr, /must hold a mapping/);
    writeFileSync(bad, "routes:\n  x.local: {upstream: nosuchpool}\n");
    r = await cli(["apply", "-f", bad, "--json"], env());
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stderr), { error: "invalid", message: "routes.x.local: route 'x.local' names unknown pool 'nosuchpool'", status: 400, field: "routes.x.local" });
    r = await cli(["apply"], env());
    assert.equal(r.code, 2);
    assert.equal(await revision(), 5);
  });
});

describe("history and rollback (real controller)", () => {
  test("history lists revisions newest first; --limit and --before page; history show prints one change", async () => {
    await seed();
    const rows = (await ok(["history"], READ)).trimEnd().split("\n");
    assert.match(rows[0] ?? "", /^REV\s+AT\s+ACTOR\s+SUMMARY$/);
    assert.match(rows[1] ?? "", /^5\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+ops\s+default\.put$/);
    assert.equal(rows.length, 6);
    const page = JSON.parse(await ok(["history", "--limit", "2", "--before", "4", "--json"], READ)) as { revision: number }[];
    assert.deepEqual(page.map((p) => p.revision), [3, 2]);
    const one = await ok(["history", "show", "3"], READ);
    assert.match(one, /^revision\s+3$/m);
    assert.match(one, /^route\.put\s+demo\.local\s+\(none\) -> blue$/m);
    const gone = await cli(["history", "show", "99"], env(READ));
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /revision 99 is not in the change log/);
  });

  test("rollback REV writes the state at REV as one revision; --dry-run prints the diff; --wait; a no-op says so", async () => {
    await seed();
    const before = await plainState();
    await ok(["route", "set", "demo.local", "green"]);
    const dry = await ok(["rollback", "5", "--dry-run"]);
    assert.equal(dry, "dry run at revision 6: 1 change; nothing was written\n~ route demo.local: green -> blue\n");
    assert.equal(await revision(), 6);
    const r = await cli(["rollback", "5", "--wait", "--timeout", "2s"], env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "rolled back to the state of revision 5 at revision 7: 1 change\n~ route demo.local: green -> blue\napplied on 0/0 agents (no live agents)\n");
    assert.deepEqual(await plainState(), before);
    assert.equal(await ok(["rollback", "7"]), "the fleet is already in the state of revision 7; nothing written (revision 7)\n");
    const audit = await ok(["audit", "--limit", "1"], READ);
    assert.match(audit, /green -> blue \(rollback to 5\)$/m);
    const ahead = await cli(["rollback", "99", "--json"], env());
    assert.equal(ahead.code, 1);
    assert.equal(JSON.parse(ahead.stderr).field, "to");
    assert.equal((await cli(["rollback", "5", "--dry-run", "--wait"], env())).code, 2);
  });
});

describe("--dry-run on every write, and switch --create (real controller)", () => {
  test("every write command prints the diff and writes nothing", async () => {
    await seed();
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const id = JSON.parse(await ok(["cutover", "api.local", "--to", "green", "--at", at, "--json"])).id as string;
    const cases: [string[], string][] = [
      [["switch", "demo.local", "green"], "~ route demo.local: blue -> green\n"],
      [["switch", "new.local", "green", "--create"], "+ route new.local: green\n"],
      [["pool", "set", "red", "127.0.0.1:9009"], "+ pool red: 127.0.0.1:9009\n"],
      [["route", "set", "demo.local", "--rule", "/a/=green"], "~ route demo.local: blue -> /a/ -> green\n"],
      [["route", "delete", "demo.local"], "- route demo.local (was blue)\n"],
      [["default", "set", "blue"], "~ default: green -> blue\n"],
      [["default", "unset"], "~ default: green -> (none)\n"],
      [["rollback", "4"], "~ default: green -> (none)\n"],
      [["promote", id], "~ route api.local: /api/ -> green; / -> blue=90,green=10 -> green\n"],
      [["abort", id], ""],
    ];
    for (const [argv, diff] of cases) {
      const out = await ok([...argv, "--dry-run"]);
      assert.equal(out, `dry run at revision 5: ${diff === "" ? "no changes" : "1 change"}; nothing was written\n${diff}`, argv.join(" "));
    }
    const plan = await ok(["cutover", "demo.local", "--to", "green", "--canary", "10,100", "--interval", "1m", "--no-preflight", "--dry-run"]);
    assert.match(plan, /^~ route demo\.local: blue -> green\nplan for demo\.local:\n  step 1 \(10%\): demo\.local -> blue=90,green=10\n  step 2 \(100%\): demo\.local -> green\n$/m);
    const refused = await cli(["pool", "delete", "blue", "--dry-run"], env());
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /still used by/);
    assert.equal(await revision(), 5);
    assert.equal((await real.fx.repo.list()).length, 1);
  });

  test("switch to an unknown host is 404 unknown_host (exit 1, nothing written) unless --create", async () => {
    await seed();
    const typo = await cli(["switch", "demo.locl", "green", "--json"], env());
    assert.equal(typo.code, 1);
    const err = JSON.parse(typo.stderr);
    assert.equal(err.error, "unknown_host");
    assert.equal(err.status, 404);
    assert.match(err.message, /--create/);
    assert.equal(await revision(), 5);
    assert.equal(await ok(["switch", "demo.locl", "green", "--create"]), "demo.locl -> green at revision 6\n");
    assert.deepEqual((await plainState()).routes["demo.locl"], { upstream: "green" });
  });
});

test("the exported YAML holds exactly the state: pools and routes sorted by name", async () => {
  await seed();
  const yaml = await ok(["export"], READ);
  const names = [...yaml.matchAll(/^ {2}(\S+):$/gm)].map((m) => m[1]);
  assert.deepEqual(names, ["blue", "green", "api.local", "demo.local"]);
  assert.ok(!/^revision:/m.test(yaml), "no revision key: apply takes the file as it is");
});
