#!/usr/bin/env node
// Runs every packages/*/test/**/*.test.ts file with Node's built-in test runner through tsx
// (`*.serial.test.ts` last, one at a time).
// Tests import workspace packages from source (the "switchyard-source" export condition);
// end-to-end tests spawn the built dist/ entry points, so `pnpm test` builds first.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filter = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist") continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const files = readdirSync(join(root, "packages"))
  .map((pkg) => join(root, "packages", pkg, "test"))
  .filter((dir) => {
    try {
      return statSync(dir).isDirectory();
    } catch {
      return false;
    }
  })
  .flatMap(walk)
  .map((f) => relative(root, f))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort();

if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}

// `*.serial.test.ts` files (a whole fresh install and build, say) run after the others, one at a
// time with a longer limit: alongside the rest they would starve timing-sensitive tests of CPU.
const serial = files.filter((f) => f.endsWith(".serial.test.ts"));
const parallel = files.filter((f) => !serial.includes(f));

function runTests(list, concurrency, timeoutMs) {
  const args = [
    "--import", "tsx",
    "--conditions", "switchyard-source",
    "--test",
    "--test-concurrency", String(concurrency),
    "--test-timeout", String(timeoutMs),
    "--test-reporter", "spec",
    ...list,
  ];
  return spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" }).status ?? 1;
}

let status = 0;
if (parallel.length) status = runTests(parallel, process.env.TEST_CONCURRENCY ?? "3", 120_000);
if (serial.length) status = runTests(serial, 1, 900_000) || status;
process.exit(status);
