// The `switchyard` bin as a user runs it: a process, from source here and from dist in path.test.ts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
const bin = ["--import", "tsx", "--conditions", "switchyard-source", "packages/cli/src/main.ts"];
const node = (...args: string[]) =>
  spawnSync(process.execPath, [...bin, ...args], { cwd: root, encoding: "utf8", timeout: 30_000, env: { ...process.env, SWITCHYARD_TOKEN: "" } });

const COMMANDS = ["status", "agents", "switch", "apply", "export", "pools", "pool", "routes", "route", "default", "audit", "history", "rollback", "cutover", "cutovers", "cutover-status", "abort", "promote", "completion"];

test("the bin entry starts: --help lists every command and exits 0, a usage error exits 2", () => {
  const help = node("--help");
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: switchyard \[options\] \[command\]/);
  for (const cmd of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${cmd} `, "m"));
  const pool = node("pool", "--help");
  for (const sub of ["get", "set", "delete"]) assert.match(pool.stdout, new RegExp(`^  ${sub} `, "m"));
  const noToken = node("status");
  assert.equal(noToken.status, 2);
  assert.equal(noToken.stderr, "error: no API token: pass --token or set SWITCHYARD_TOKEN\n");
});

test("--version and -V print the package version and need no token", () => {
  for (const flag of ["--version", "-V"]) {
    const r = node(flag);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
  }
});

test("a reader that closes the pipe early ends the CLI quietly, without an EPIPE stack trace", () => {
  const r = spawnSync("bash", ["-o", "pipefail", "-c", `"${process.execPath}" ${bin.join(" ")} --help | head -c 10 >/dev/null`], { cwd: root, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
});

/** Completes `line` (a command line ending where TAB is pressed) with the generated bash script. */
function bashComplete(script: string, line: string): string[] {
  const words = line.split(" ");
  const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _switchyard; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync("bash", ["-c", program], { encoding: "utf8", timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean);
}

test("completion bash: real bash completes commands, subcommands and options from the command tree", () => {
  const r = node("completion", "bash");
  assert.equal(r.status, 0, r.stderr);
  const script = r.stdout;
  assert.deepEqual(bashComplete(script, "switchyard po"), ["pools", "pool"]);
  assert.deepEqual(bashComplete(script, "switchyard pool "), ["get", "set", "delete", "health", "--url", "--token", "--json", "--help"]);
  assert.deepEqual(bashComplete(script, "switchyard pool set blue 10.0.0.1:80 --k"), ["--keepalive"]);
  assert.deepEqual(bashComplete(script, "switchyard --url http://x:7070 ro"), ["routes", "route", "rollback"]);
  assert.deepEqual(bashComplete(script, "switchyard history "), ["show", "--url", "--token", "--json", "--limit", "--before", "--help"]);
  assert.ok(bashComplete(script, "switchyard switch demo.local green --").includes("--create"));
  for (const cmd of ["switch x y", "pool set x y", "route delete x", "default unset", "rollback 3", "apply", "cutover x", "abort x", "promote x"]) {
    assert.ok(bashComplete(script, `switchyard ${cmd} --d`).includes("--dry-run"), `${cmd} takes --dry-run`);
  }
  assert.deepEqual(bashComplete(script, "switchyard default "), ["get", "set", "unset", "--url", "--token", "--json", "--help"]);
  assert.deepEqual(bashComplete(script, "switchyard switch demo.local green --timeout "), [], "no command names where a value goes");
  assert.ok(bashComplete(script, "switchyard abort co-1 --").includes("--no-wait"));
});

test("completion zsh: a #compdef function that zsh's parser accepts, naming every command", () => {
  const r = node("completion", "zsh");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^#compdef switchyard\n/);
  for (const cmd of COMMANDS) assert.match(r.stdout, new RegExp(`'${cmd}:`));
  const zsh = spawnSync("zsh", ["-n"], { input: r.stdout, encoding: "utf8" });
  if (zsh.error) return; // zsh is not installed here: the bash test above exercises the shared tree
  assert.equal(zsh.status, 0, zsh.stderr);
});

test("completion needs a shell it knows: anything else is a usage error", () => {
  const r = node("completion", "fish");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /'fish' is invalid for argument 'shell'\. Allowed choices are bash, zsh/);
});
