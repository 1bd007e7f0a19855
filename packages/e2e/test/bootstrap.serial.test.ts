// The README's two commands on a fresh machine: `npm test` (and `npm run demo`, which shares the
// bootstrap) from a clean copy of the repository, with no pnpm on PATH and no node_modules. Real
// npm, real pnpm install and build, real tests; bounded in time.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { ROOT } from "../src/index.js";
// @ts-expect-error: a plain .mjs script of the repository, without types
import { markDepsInstalled, staleBuild, staleDeps } from "../../../scripts/build-state.mjs";

function write(path: string, text: string, mtimeSec?: number) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  if (mtimeSec !== undefined) utimesSync(path, mtimeSec, mtimeSec);
}

describe("build-state: what the bootstrap skips", () => {
  test("a build is stale when a source is newer than its output, an output is missing, or the build config changed", () => {
    const ws = mkdtempSync(join(tmpdir(), "build-state-"));
    try {
      const pkg = join(ws, "packages/a");
      write(join(ws, "tsconfig.base.json"), "{}", 1000);
      write(join(pkg, "package.json"), JSON.stringify({ scripts: { build: "tsc" } }), 1000);
      write(join(pkg, "tsconfig.json"), "{}", 1000);
      write(join(pkg, "src/x.ts"), "", 1000);
      write(join(pkg, "src/types.d.ts"), "", 5000); // declarations emit nothing: never stale
      write(join(pkg, "src/lua/s.lua"), "", 1000);
      write(join(pkg, "dist/x.js"), "", 2000);
      write(join(pkg, "dist/lua/s.lua"), "", 2000);
      write(join(ws, "packages/nobuild/package.json"), "{}", 1000);
      write(join(ws, "packages/nobuild/src/y.ts"), "", 9000);
      assert.equal(staleBuild(ws), null);
      utimesSync(join(pkg, "src/x.ts"), 3000, 3000);
      assert.equal(staleBuild(ws), "packages/a/src/x.ts changed since the last build");
      utimesSync(join(pkg, "dist/x.js"), 4000, 4000);
      assert.equal(staleBuild(ws), null);
      utimesSync(join(pkg, "tsconfig.json"), 4500, 4500);
      assert.equal(staleBuild(ws), "packages/a's build configuration changed since the last build");
      utimesSync(join(pkg, "tsconfig.json"), 1000, 1000);
      write(join(pkg, "src/new.ts"), "", 1000);
      assert.equal(staleBuild(ws), "packages/a/dist has no new.js");
      rmSync(join(pkg, "src/new.ts"));
      rmSync(join(pkg, "dist/lua/s.lua"));
      assert.equal(staleBuild(ws), "packages/a/dist has no lua/s.lua");
      write(join(pkg, "dist/lua/s.lua"), "", 2000);
      // A dashboard (ui/): its bundle must exist and be newer than every file under ui/.
      write(join(pkg, "ui/src/main.js"), "", 1000);
      assert.equal(staleBuild(ws), "packages/a/dist has no ui/app.js (the dashboard)");
      write(join(pkg, "dist/ui/app.js"), "", 2000);
      assert.equal(staleBuild(ws), null);
      utimesSync(join(pkg, "ui/src/main.js"), 3000, 3000);
      assert.equal(staleBuild(ws), "packages/a/ui/src/main.js changed since the last build");
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });

  test("dependencies are stale without node_modules, without the stamp, or when a manifest or the lockfile changed", () => {
    const ws = mkdtempSync(join(tmpdir(), "deps-state-"));
    try {
      write(join(ws, "package.json"), "{}");
      write(join(ws, "pnpm-lock.yaml"), "a");
      write(join(ws, "packages/a/package.json"), "{}");
      assert.equal(staleDeps(ws), "node_modules is missing");
      mkdirSync(join(ws, "node_modules"));
      assert.match(staleDeps(ws) ?? "", /no stamp/);
      markDepsInstalled(ws);
      assert.equal(staleDeps(ws), null);
      write(join(ws, "packages/a/package.json"), '{"dependencies":{"x":"1"}}');
      assert.match(staleDeps(ws) ?? "", /changed since the last install/);
      markDepsInstalled(ws);
      write(join(ws, "pnpm-lock.yaml"), "b");
      assert.match(staleDeps(ws) ?? "", /changed since the last install/);
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });
});

/** The repository as a fresh clone has it: tracked and new files of the working tree, nothing ignored. */
function cleanCopy(to: string) {
  const r = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  for (const f of r.stdout.split("\0").filter(Boolean)) {
    if (!existsSync(join(ROOT, f))) continue; // deleted in the working tree
    mkdirSync(dirname(join(to, f)), { recursive: true });
    cpSync(join(ROOT, f), join(to, f));
  }
}

/** A directory whose `names` fail as "command not found" does, put first on PATH. */
function shadow(dir: string, names: string[]) {
  mkdirSync(dir, { recursive: true });
  for (const n of names) {
    writeFileSync(join(dir, n), `#!/bin/sh\necho "sh: ${n}: not found" >&2\nexit 127\n`);
    chmodSync(join(dir, n), 0o755);
  }
}

function npm(args: string[], cwd: string, env: Record<string, string>, opts: { uid?: number; gid?: number } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("npm", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], ...opts });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 420_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test("a clean clone with no pnpm and no node_modules: npm test gets pnpm, installs, builds, runs; a second run skips both", { timeout: 900_000 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "fresh-clone-"));
  try {
    const repo = join(tmp, "repo");
    cleanCopy(repo);
    assert.ok(!existsSync(join(repo, "node_modules")) && !existsSync(join(repo, "packages/cli/dist")));
    shadow(join(tmp, "shadow"), ["pnpm"]);
    // A fresh shell: none of the npm_*/pnpm variables of a `pnpm test`, nor node:test's own marker.
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|pnpm_|NODE_TEST_CONTEXT$)/i.test(k))) as Record<string, string>;
    const env = {
      ...clean,
      PATH: `${join(tmp, "shadow")}:${process.env.PATH ?? ""}`,
      // npm's global installs land here (its bin is not on PATH), never in the machine's prefix.
      NPM_CONFIG_PREFIX: join(tmp, "npm-global"),
      CI: "true",
    };
    const filter = "packages/cli/test/units";

    const first = await npm(["test", "--", filter], repo, env);
    t.diagnostic(first.out.split("\n").filter((l) => l.startsWith("switchyard:")).join(" | "));
    assert.equal(first.code, 0, first.out.slice(-4000));
    assert.match(first.out, /switchyard: pnpm is not installed: getting pnpm@\d+\.\d+\.\d+/);
    assert.match(first.out, /switchyard: npm install -g pnpm@/);
    assert.match(first.out, /switchyard: installing dependencies \(node_modules is missing\)/);
    assert.match(first.out, /switchyard: building \(/);
    assert.match(first.out, /ℹ fail 0/);
    assert.match(first.out, /ℹ pass [1-9]/);
    assert.ok(existsSync(join(tmp, "npm-global/bin/pnpm")));
    const built = statSync(join(repo, "packages/cli/dist/main.js")).mtimeMs;

    const second = await npm(["test", "--", filter], repo, env);
    assert.equal(second.code, 0, second.out.slice(-4000));
    assert.match(second.out, /switchyard: build is up to date \(skipped\)/);
    assert.doesNotMatch(second.out, /installing dependencies|getting pnpm|switchyard: building/);
    assert.equal(statSync(join(repo, "packages/cli/dist/main.js")).mtimeMs, built, "nothing was rebuilt");

    // Not root: npm may not install globally, so pnpm comes through npx; everything else is ready.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const home = join(tmp, "home");
    const readOnlyPrefix = join(tmp, "system-prefix");
    mkdirSync(home);
    mkdirSync(join(readOnlyPrefix, "lib"), { recursive: true });
    if (asUser.uid !== undefined) {
      spawnSync("chmod", ["-R", "a+rX", tmp]);
      spawnSync("chown", ["-R", "65534:65534", home]);
    }
    const userEnv = { ...env, HOME: home, NPM_CONFIG_PREFIX: readOnlyPrefix, npm_config_cache: join(home, ".npm") };
    const viaNpx = await npm(["test", "--", filter], repo, userEnv, asUser);
    if (asUser.uid !== undefined || !existsSync(join(readOnlyPrefix, "bin"))) {
      assert.equal(viaNpx.code, 0, viaNpx.out.slice(-4000));
      assert.match(viaNpx.out, /switchyard: npm cannot install globally here \(.*system-prefix is not writable\): using npx pnpm@/);
      assert.match(viaNpx.out, /switchyard: build is up to date \(skipped\)/);
      assert.match(viaNpx.out, /ℹ fail 0/);
    }

    // Not root, no redis-server: the one command to run, and a non-zero exit before any install.
    shadow(join(tmp, "shadow"), ["pnpm", "redis-server"]);
    const noRedis = await npm(["test", "--", filter], repo, userEnv, asUser);
    assert.notEqual(noRedis.code, 0);
    assert.match(noRedis.out, /switchyard: redis-server is not installed\. Run:\n\n {4}sudo apt-get install -y redis-server\n/);
    assert.doesNotMatch(noRedis.out, /\n\s+at /, "no stack trace");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
