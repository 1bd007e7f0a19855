// Is `pnpm install` or `pnpm build` needed? Answered from the files themselves, so `npm test`,
// `npm run demo` and `pnpm demo` skip both when nothing changed.
//   deps:  a hash of the lockfile, the workspace file and every package.json, stamped into
//          node_modules after an install; a different hash (or no node_modules) means stale.
//   build: every src/**/*.ts (not .d.ts) and src/**/*.lua of a package with a build script must
//          have its dist/ counterpart, newer than itself and than the package's build config.
//          A package with a ui/ folder (the controller's dashboard) must have dist/ui/app.js newer
//          than every file in it.
//          Any stale package rebuilds the whole workspace: a dependent's types may have changed.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const STAMP = "node_modules/.switchyard-deps";

function packageDirs(root) {
  const dir = join(root, "packages");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((p) => existsSync(join(p, "package.json")));
}

export function depsHash(root) {
  const h = createHash("sha256");
  const files = ["pnpm-lock.yaml", "pnpm-workspace.yaml", "package.json", ...packageDirs(root).map((p) => relative(root, join(p, "package.json")))];
  for (const f of files.sort()) {
    h.update(f + "\0");
    if (existsSync(join(root, f))) h.update(readFileSync(join(root, f)));
    h.update("\0");
  }
  return h.digest("hex");
}

/** Why dependencies must be installed, or null when node_modules matches the manifests. */
export function staleDeps(root) {
  if (!existsSync(join(root, "node_modules"))) return "node_modules is missing";
  const stamp = join(root, STAMP);
  if (!existsSync(stamp)) return "node_modules was not installed by this script (no stamp)";
  if (readFileSync(stamp, "utf8").trim() !== depsHash(root)) return "the lockfile or a package.json changed since the last install";
  return null;
}

export function markDepsInstalled(root) {
  writeFileSync(join(root, STAMP), depsHash(root) + "\n");
}

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}

const mtime = (p) => statSync(p).mtimeMs;

/** Why `pnpm build` must run, or null when every package's dist/ is newer than its sources. */
export function staleBuild(root) {
  const base = join(root, "tsconfig.base.json");
  for (const pkg of packageDirs(root)) {
    const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
    if (!manifest.scripts?.build || !existsSync(join(pkg, "src"))) continue;
    const name = relative(root, pkg);
    const config = Math.max(...[join(pkg, "package.json"), join(pkg, "tsconfig.json"), base].filter(existsSync).map(mtime));
    for (const src of files(join(pkg, "src"))) {
      const rel = relative(join(pkg, "src"), src);
      let out;
      if (rel.endsWith(".ts") && !rel.endsWith(".d.ts")) out = join(pkg, "dist", rel.replace(/\.ts$/, ".js"));
      else if (rel.endsWith(".lua")) out = join(pkg, "dist", rel);
      else continue;
      if (!existsSync(out)) return `${name}/dist has no ${relative(join(pkg, "dist"), out)}`;
      const built = mtime(out);
      if (built < mtime(src)) return `${name}/src/${rel} changed since the last build`;
      if (built < config) return `${name}'s build configuration changed since the last build`;
    }
    if (existsSync(join(pkg, "ui"))) {
      const bundle = join(pkg, "dist", "ui", "app.js");
      if (!existsSync(bundle)) return `${name}/dist has no ui/app.js (the dashboard)`;
      for (const src of files(join(pkg, "ui"))) if (mtime(bundle) < mtime(src)) return `${name}/${relative(pkg, src)} changed since the last build`;
    }
  }
  return null;
}
