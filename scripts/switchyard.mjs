#!/usr/bin/env node
// `pnpm switchyard ...` from the repo root: the built CLI, built first if a source changed
// (build output goes to stderr, so `pnpm -s switchyard --json ...` stays pipeable).
import { spawnSync } from "node:child_process";
import { staleBuild } from "./build-state.mjs";

const root = new URL("..", import.meta.url).pathname;
const stale = staleBuild(root);
if (stale) {
  process.stderr.write(`switchyard: building first (${stale})\n`);
  const r = spawnSync("pnpm", ["build"], { cwd: root, stdio: ["ignore", process.stderr, "inherit"] });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
await import("../packages/cli/dist/main.js");
