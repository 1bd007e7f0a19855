// `switchyard` as the README says to run it: `pnpm switchyard ...` from the repo root, and on PATH
// through `npm link` or `pnpm link --global`, each into a private prefix (never the machine's).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT } from "../src/index.js";

const version = (JSON.parse(readFileSync(join(ROOT, "packages/cli/package.json"), "utf8")) as { version: string }).version;
const clean = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|pnpm_|NODE_TEST_CONTEXT$|SWITCHYARD_)/i.test(k))) as Record<string, string>;
const run = (cmd: string, args: string[], cwd: string, env: Record<string, string> = clean()) => spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout: 120_000 });

test("pnpm switchyard runs the built CLI from the repo root; -s keeps stdout to the CLI's own output", () => {
  const v = run("pnpm", ["-s", "switchyard", "--version"], ROOT);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout, `${version}\n`);
  const noToken = run("pnpm", ["-s", "switchyard", "--json", "pools"], ROOT);
  assert.equal(noToken.status, 2);
  assert.equal(noToken.stdout, "");
  assert.deepEqual(JSON.parse(noToken.stderr), { error: "usage", message: "no API token: pass --token or set SWITCHYARD_TOKEN" });
  const help = run("pnpm", ["switchyard", "route", "--help"], ROOT);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: switchyard route \[options\] \[command\]/);
});

test("npm link in packages/cli puts switchyard on PATH", () => {
  const prefix = mkdtempSync(join(tmpdir(), "npm-prefix-"));
  try {
    const link = run("npm", ["link", "--no-fund", "--no-audit"], join(ROOT, "packages/cli"), { ...clean(), NPM_CONFIG_PREFIX: prefix });
    assert.equal(link.status, 0, link.stderr);
    const env = { ...clean(), PATH: `${join(prefix, "bin")}:${process.env.PATH ?? ""}` };
    const v = run("switchyard", ["--version"], tmpdir(), env);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout, `${version}\n`);
    const completion = run("switchyard", ["completion", "bash"], tmpdir(), env);
    assert.match(completion.stdout, /complete -F _switchyard switchyard/);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});

test("pnpm link --global in packages/cli puts switchyard on PATH (PNPM_HOME set up by pnpm setup)", () => {
  const home = mkdtempSync(join(tmpdir(), "pnpm-home-"));
  try {
    mkdirSync(join(home, "bin"));
    const env = { ...clean(), PNPM_HOME: join(home, "bin"), XDG_DATA_HOME: join(home, "data"), PATH: `${join(home, "bin")}:${process.env.PATH ?? ""}` };
    const link = run("pnpm", ["link", "--global"], join(ROOT, "packages/cli"), env);
    assert.equal(link.status, 0, link.stderr + link.stdout);
    const v = run("switchyard", ["--version"], tmpdir(), env);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout, `${version}\n`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
