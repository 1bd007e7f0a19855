// The CLI against a real controller, real agents and real sample apps: what it prints about acks
// is what the agents did, and what it wrote is what the agents serve.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { randomPrefix, startRedis, type RedisHandle } from "@switchyard/testkit";
import { TOKEN, get, startFleet, type Fleet } from "../src/fleet.js";
import { startCutover, untilCutover } from "../src/cutover.js";

let redis: RedisHandle;
let fleet: Fleet;

before(async () => {
  redis = await startRedis();
  fleet = await startFleet(redis, randomPrefix("clifleet"), ["127.0.0.2", "127.0.0.3"], {}, { CUTOVER_SAMPLE_MS: "250" });
});
after(async () => {
  await fleet?.stop();
  await redis?.stop();
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { run } = await import("@switchyard/cli");
  let out = "";
  let err = "";
  const code = await run(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { SWITCHYARD_URL: fleet.controllerUrl, SWITCHYARD_TOKEN: TOKEN } });
  return { code, out, err };
}

const served = async (host: string) => Promise.all(fleet.agents.map(async (a) => (await get(a.host, a.port, host)).body.trim().replace(/-\d+$/, "")));

describe("switchyard against a real fleet", () => {
  test("pool set, route set with --wait and a compound --timeout: every agent applied it and serves it", async () => {
    let r = await cli("pool", "set", "blue", ...fleet.apps.blue, "--wait", "--timeout", "1m30s");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^pool blue: 2 targets at revision \d+\napplied on 2\/2 agents\n$/);
    r = await cli("pool", "set", "green", ...fleet.apps.green, "--wait");
    assert.equal(r.code, 0, r.err);
    r = await cli("route", "set", "cli.local", "blue", "--wait", "--timeout", "30s");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /applied on 2\/2 agents\n$/);
    assert.deepEqual(await served("cli.local"), ["blue", "blue"]);
  });

  test("abort waits until the agents acked the restore, prints who did, and the fleet serves the original upstream", async () => {
    await cli("route", "set", "abort.local", "blue", "--wait");
    const id = await startCutover(fleet, { host: "abort.local", to: "green", strategy: { canary: { steps: [50, 100], interval: "1m30s" } }, preflight: false });
    await untilCutover(fleet, id, (c) => c.state === "baking", "baking");
    const r = await cli("abort", id);
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, new RegExp(`^cutover ${id}: aborted: .*original upstream restored\\n`, "m"));
    assert.match(r.out, /^restore: original routes written back at revision \d+, acked by 2\/2 agents\n$/m);
    assert.deepEqual(await served("abort.local"), ["blue", "blue"]);
  });

  test("promote waits until the agents acked the 100% step and prints it", async () => {
    await cli("route", "set", "promote.local", "blue", "--wait");
    const id = await startCutover(fleet, { host: "promote.local", to: "green", strategy: { canary: { steps: [10, 50, 100], interval: "30s" } }, bake: "30s", preflight: false });
    await untilCutover(fleet, id, (c) => c.state === "baking" && c.step?.index === 1, "step 1 baking");
    const r = await cli("promote", id, "--timeout", "1m");
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /^step 3 \(100%\) at revision \d+, acked by 2\/2 agents\n$/m);
    assert.deepEqual(await served("promote.local"), ["green", "green"]);
  });

  test("history, rollback --wait and export | apply against the real fleet: the agents serve the state at R, and re-applying an export writes nothing", async () => {
    const before = Number(/at revision (\d+)/.exec((await cli("route", "set", "rb.local", "blue", "--wait")).out)?.[1]);
    let r = await cli("switch", "rb.local", "green", "--wait");
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await served("rb.local"), ["green", "green"]);
    r = await cli("history", "--limit", "1");
    assert.match(r.out, /route\.put rb\.local\n$/);
    r = await cli("rollback", String(before), "--wait", "--timeout", "30s");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^rolled back to the state of revision \d+ at revision \d+: 1 change\n~ route rb\.local: green -> blue\napplied on 2\/2 agents\n$/);
    assert.deepEqual(await served("rb.local"), ["blue", "blue"]);

    const dir = mkdtempSync(join(tmpdir(), "switchyard-e2e-"));
    try {
      const exported = await cli("export");
      assert.equal(exported.code, 0, exported.err);
      const file = join(dir, "fleet.yaml");
      writeFileSync(file, exported.out);
      const revision = (await fleet.api("GET", "/v1/state")).body.revision as number;
      r = await cli("apply", "-f", file, "--prune");
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, `the fleet already matches ${file}; nothing written (revision ${revision})\n`);
      assert.equal((await fleet.api("GET", "/v1/state")).body.revision, revision);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("switch of a mistyped host is refused with 404 unknown_host and no route appears on any agent", async () => {
    const r = await cli("switch", "rb.locl", "green");
    assert.equal(r.code, 1);
    assert.match(r.err, /^error: no route for host 'rb\.locl'/);
    assert.equal((await fleet.api("GET", "/v1/routes/rb.locl")).status, 404);
  });
});
