#!/usr/bin/env node
// The root `test` and `demo` scripts: on a machine with only Node, npm (and apt), install what is
// missing, then run. `npm test` / `pnpm test [file filters]`, `npm run demo` / `pnpm demo`.
//   - pnpm at the packageManager version: `npm i -g` where npm may install globally, else npx.
//   - redis-server: apt-get when running as root; otherwise print the one command and exit 1.
//   - dependencies: `pnpm install --frozen-lockfile` when node_modules is missing or stale.
//   - build: `pnpm build` when a source is newer than its output (build-state.mjs), else skipped.
// Nothing is installed behind the user's back except by root through apt, and npm's own prefix.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { markDepsInstalled, staleBuild, staleDeps } from "./build-state.mjs";

const root = new URL("..", import.meta.url).pathname;
const say = (line) => process.stderr.write(`switchyard: ${line}\n`);

class Missing extends Error {}

function runs(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] });
  return r.status === 0 ? r.stdout.trim() : null;
}

function step(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Missing(`'${[cmd, ...args].join(" ")}' failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
}

function checkNode() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 20) throw new Missing(`Node ${process.versions.node} is too old: Switchyard needs Node 20 or newer`);
}

const wantedPnpm = () => JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager.replace(/^pnpm@/, "").replace(/\+.*$/, "");

/** Whether npm could create or write `dir`: its nearest existing ancestor is writable. */
function writable(dir) {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(d)) {
      try {
        accessSync(d, constants.W_OK);
        return true;
      } catch {
        return false;
      }
    }
    if (dirname(d) === d) return false;
  }
}

/** An absolute path to a pnpm of the packageManager's major version, installing one if needed. */
function ensurePnpm(env) {
  const version = wantedPnpm();
  const major = version.split(".")[0];
  const onPath = runs("pnpm", ["--version"], env);
  if (onPath?.split(".")[0] === major) return runs("sh", ["-c", "command -v pnpm"], env) ?? "pnpm";
  const prefix = runs("npm", ["prefix", "-g"], env);
  // Installed by an earlier run into a prefix whose bin is not on PATH.
  const earlier = prefix ? join(prefix, "bin", "pnpm") : null;
  if (earlier && runs(earlier, ["--version"], env)?.split(".")[0] === major) return earlier;
  say(onPath ? `pnpm ${onPath} is not pnpm ${major}: getting pnpm@${version}` : `pnpm is not installed: getting pnpm@${version}`);
  if (prefix && writable(join(prefix, "lib")) && writable(join(prefix, "bin"))) {
    say(`npm install -g pnpm@${version}  (into ${prefix})`);
    step("npm", ["install", "-g", "--no-fund", "--no-audit", `pnpm@${version}`], env);
    const installed = join(prefix, "bin", "pnpm");
    if (existsSync(installed)) return installed;
  }
  say(`npm cannot install globally here (${prefix ?? "no prefix"} is not writable): using npx pnpm@${version}`);
  const viaNpx = runs("npx", ["--yes", "-p", `pnpm@${version}`, "-c", "command -v pnpm"], env);
  if (!viaNpx) throw new Missing(`could not get pnpm through npx either; install it with: npm i -g pnpm@${version}`);
  return viaNpx;
}

function ensureRedis(env, forDemo) {
  if (runs("redis-server", ["--version"], env)) return;
  const root_ = process.getuid?.() === 0;
  const apt = runs("sh", ["-c", "command -v apt-get"], env);
  if (root_ && apt) {
    say("redis-server is not installed: installing it with apt-get (running as root)");
    const aptEnv = { ...env, DEBIAN_FRONTEND: "noninteractive" };
    step("apt-get", ["update", "-qq"], aptEnv);
    step("apt-get", ["install", "-y", "-qq", "redis-server"], aptEnv);
    // Debian's package starts a service on 6379; the tests and the demo start their own.
    if (runs("redis-server", ["--version"], env)) return;
    throw new Missing("apt-get installed redis-server, but it is not on PATH");
  }
  const command = apt ? "sudo apt-get install -y redis-server" : process.platform === "darwin" ? "brew install redis" : "install redis-server 7 with your package manager";
  throw new Missing(
    `redis-server is not installed. Run:\n\n    ${command}\n\nthen run this again` +
      (forDemo ? " (or point the demo at a running Redis: REDIS_URL=redis://127.0.0.1:6379 npm run demo)" : "") + ".",
  );
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  if (!["test", "demo"].includes(mode ?? "")) throw new Missing("usage: node scripts/bootstrap.mjs test [filter...] | demo");
  checkNode();
  let env = { ...process.env };
  // Checked before anything is installed, so a machine that cannot run the result is told first.
  if (mode === "test" || !env.REDIS_URL) ensureRedis(env, mode === "demo");
  const pnpm = ensurePnpm(env);
  // Children (the build script, tests that call pnpm) find the same pnpm.
  env = { ...env, PATH: `${dirname(pnpm)}${delimiter}${env.PATH ?? ""}` };
  const deps = staleDeps(root);
  if (deps) {
    say(`installing dependencies (${deps})`);
    step(pnpm, ["install", "--frozen-lockfile"], env);
    markDepsInstalled(root);
  }
  const build = staleBuild(root);
  if (build) {
    say(`building (${build})`);
    step(pnpm, ["build"], env);
  } else say("build is up to date (skipped)");

  const script = mode === "test" ? ["scripts/test.mjs", ...args] : ["scripts/demo.mjs", ...args];
  const child = spawn(process.execPath, script, { cwd: root, env, stdio: "inherit" });
  // Ctrl-C reaches the child too (same process group): it decides how to stop; we report its code.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig === "SIGINT" ? "SIGINT" : sig));
  const code = await new Promise((resolve) => child.once("exit", (c, s) => resolve(c ?? (s === "SIGINT" ? 130 : 1))));
  process.exit(code);
}

main().catch((err) => {
  say(err instanceof Missing ? err.message : `unexpected failure: ${err?.stack ?? err}`);
  process.exit(1);
});
