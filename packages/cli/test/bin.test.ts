import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const root = fileURLToPath(new URL("../../..", import.meta.url));

test("the bin entry starts: --help exits 0, a usage error exits 2", () => {
  const node = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "--conditions", "switchyard-source", "packages/cli/src/main.ts", ...args], {
      cwd: root,
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, SWITCHYARD_TOKEN: "" },
    });
  const help = node("--help");
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: switchyard \[options\] \[command\]/);
  for (const cmd of ["status", "switch", "agents", "cutover", "cutovers", "cutover-status", "abort", "promote"]) assert.match(help.stdout, new RegExp(`^  ${cmd} `, "m"));
  const noToken = node("status");
  assert.equal(noToken.status, 2);
  assert.equal(noToken.stderr, "error: no API token: pass --token or set SWITCHYARD_TOKEN\n");
});
