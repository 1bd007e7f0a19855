// There is no Docker engine here, so compose and the Dockerfile are checked statically: the file
// as `docker-compose config` normalises it (anchors merged, variables filled in), against the code
// the services run and against `pnpm demo`, which must stay the same topology. What can run
// without Docker does run: the healthcheck commands, the seed, and the Dockerfile's deploy step.
import assert from "node:assert/strict";
import { execFile, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { AGENT_NODE_FLAGS, loadConfig as agentConfig, missingNodeFlags } from "@switchyard/agent";
import { loadConfig as controllerConfig } from "@switchyard/controller";
import { parseDuration } from "@switchyard/shared";
import { ROOT } from "../src/index.js";

type Healthcheck = { test: string[]; interval?: string; retries?: number };
type Service = {
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  image?: string;
  build?: unknown;
  pull_policy?: string;
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition: string }> | string[];
  stop_grace_period?: string;
  volumes?: string[];
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

const file = join(ROOT, "docker-compose.yml");
// `docker-compose config` is the reference reading when installed (CI installs it); the YAML
// reading with merge keys and ${VAR:-default} filled in stands in for it otherwise.
const normalised = spawnSync("docker-compose", ["-f", file, "config"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
const fallback = () => {
  const raw = readFileSync(file, "utf8").replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");
  return parse(raw, { merge: true }) as Compose;
};
const compose: Compose = normalised.error ? fallback() : (parse(normalised.stdout) as Compose);
const svc = (name: string) => compose.services[name] as Service;
const env = (s: Service) => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
const demo = readFileSync(join(ROOT, "scripts/demo.mjs"), "utf8");
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const rootPackage = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { packageManager: string };
const agentPackage = JSON.parse(readFileSync(join(ROOT, "packages/agent/package.json"), "utf8")) as { scripts: { start: string } };
const SWITCHYARD = ["controller", "agent-a", "agent-b", "blue", "green", "seed"];
const AGENTS = [["agent-a", 8081, 9901], ["agent-b", 8082, 9902]] as const;

test("compose holds the demo topology: redis, controller, two agents, blue, green and the seed", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ["agent-a", "agent-b", "blue", "controller", "green", "redis", "seed"]);
});

test("docker-compose config accepts the file when docker-compose is installed", (t) => {
  if (normalised.error) return t.diagnostic("docker-compose is not installed; the checks in this file read the YAML instead");
  assert.equal(normalised.status, 0, normalised.stderr);
  assert.doesNotMatch(normalised.stderr, /WARN/i, normalised.stderr);
});

test("one image build: only the controller builds, every Switchyard service runs that same tag and never pulls it", () => {
  const builders = Object.entries(compose.services).filter(([, s]) => s.build !== undefined).map(([n]) => n);
  assert.deepEqual(builders, ["controller"]);
  const tag = svc("controller").image;
  assert.ok(tag, "the build is tagged");
  for (const name of SWITCHYARD) {
    assert.equal(svc(name).image, tag, `${name} runs the one image`);
    if (name !== "controller") assert.equal(svc(name).pull_policy, "never", `${name} must not try to pull ${tag} from a registry`);
  }
});

test("every compose command runs a file that exists after pnpm build", () => {
  for (const [name, s] of Object.entries(compose.services)) {
    if (name === "redis") continue;
    const f = s.command?.find((a) => a.endsWith(".js") || a.endsWith(".mjs"));
    assert.ok(f && existsSync(join(ROOT, f)), `${name}: ${f} does not exist`);
  }
});

test("controller and agents log at info and pass their own config validation", () => {
  const c = controllerConfig(env(svc("controller")));
  assert.equal(c.port, 7070);
  assert.equal(env(svc("controller")).LOG_LEVEL, "info");
  for (const [name, port, admin] of AGENTS) {
    const e = env(svc(name));
    const a = agentConfig(e);
    assert.equal(e.LOG_LEVEL, "info");
    assert.equal(a.id, name);
    assert.equal(a.port, port);
    assert.equal(a.adminHost, "0.0.0.0", "inside the container the admin listener must take the host's published connections");
    assert.equal(e.AGENT_ADMIN_PORT, String(admin));
  }
});

test("the agents' proxy, admin and metrics ports reach the host, and every published port is on 127.0.0.1 only", () => {
  for (const [name, port, admin] of AGENTS) {
    const ports = svc(name).ports ?? [];
    // The admin listener serves /status, /readyz and /metrics.
    for (const p of [port, admin]) assert.ok(ports.some((x) => x.replace(/\/tcp$/, "") === `127.0.0.1:${p}:${p}`), `${name} publishes ${p}: ${ports.join(", ")}`);
  }
  for (const [name, s] of Object.entries(compose.services)) {
    for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:\d+:\d+(\/tcp)?$/, `${name} publishes ${p} beyond loopback`);
  }
});

/** Runs node asynchronously (the test's own HTTP servers must keep answering meanwhile). */
function node(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, args, { timeout: 20_000, encoding: "utf8", ...opts }, (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
  });
}

/** The healthcheck's own command, with the port swapped for a live test server's. */
async function runHealthcheck(hc: Healthcheck, fromPort: number, toPort: number): Promise<number | null> {
  assert.equal(hc.test[0], "CMD", "exec form: no shell is needed in the image");
  const [cmd, ...args] = hc.test.slice(1).map((a) => a.replace(`127.0.0.1:${fromPort}/`, `127.0.0.1:${toPort}/`));
  assert.equal(cmd, "node", "the image has node (and no curl or wget)");
  return (await node(args)).code;
}

async function readyzServer(status: number): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? "");
    res.writeHead(req.url === "/readyz" ? status : 404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

test("controller and agents have /readyz healthchecks that really pass on 200 and fail on 503 or no answer", async () => {
  const targets: [string, number][] = [["controller", 7070], ...AGENTS.map(([n, , admin]) => [n, admin] as [string, number])];
  const up = await readyzServer(200);
  const down = await readyzServer(503);
  try {
    for (const [name, port] of targets) {
      const hc = svc(name).healthcheck as Healthcheck;
      assert.ok(hc, `${name} has a healthcheck`);
      assert.ok(hc.test.join(" ").includes(`http://127.0.0.1:${port}/readyz`), `${name} checks /readyz on ${port}`);
      assert.equal(await runHealthcheck(hc, port, up.port), 0, `${name}: ready`);
      assert.equal(await runHealthcheck(hc, port, down.port), 1, `${name}: 503`);
    }
    assert.ok(up.paths.every((p) => p === "/readyz"));
    const closed = down.port;
    await new Promise<void>((resolve) => down.server.close(() => resolve()));
    assert.equal(await runHealthcheck(svc("agent-a").healthcheck as Healthcheck, 9901, closed), 1, "nothing listening");
  } finally {
    up.server.close();
    down.server.close();
  }
});

test("start order waits on health: controller and agents on redis, the seed on the controller and both agents", () => {
  const cond = (name: string) => svc(name).depends_on as Record<string, { condition: string }>;
  for (const name of ["controller", "agent-a", "agent-b"]) assert.equal(cond(name).redis?.condition, "service_healthy", name);
  for (const dep of ["controller", "agent-a", "agent-b"]) assert.equal(cond("seed")[dep]?.condition, "service_healthy", `seed waits for ${dep}`);
  assert.ok(svc("redis").healthcheck, "redis has a healthcheck for them to wait on");
});

test("stop_grace_period outlasts the agents' drain, so a stop drains before SIGKILL", () => {
  for (const [name] of AGENTS) {
    const grace = parseDuration(svc(name).stop_grace_period ?? "10s") as number; // Docker's default is 10s
    const drain = agentConfig(env(svc(name))).drainTimeoutMs;
    assert.ok(grace > drain, `${name}: grace ${grace} ms must exceed the ${drain} ms drain`);
  }
});

test("redis runs with noeviction and AOF persistence on a named volume for /data", () => {
  const cmd = svc("redis").command ?? [];
  assert.equal(cmd[cmd.indexOf("--maxmemory-policy") + 1], "noeviction");
  assert.equal(cmd[cmd.indexOf("--appendonly") + 1], "yes");
  const data = (svc("redis").volumes ?? []).map((v) => v.split(":"));
  assert.ok(data.some(([src, dst]) => dst === "/data" && src && Object.hasOwn(compose.volumes ?? {}, src)), "a named volume holds /data");
});

test("each agent keeps its state on its own named volume at AGENT_STATE_DIR, which the image makes writable", () => {
  const seen = new Set<string>();
  for (const [name] of AGENTS) {
    assert.equal(env(svc(name)).AGENT_STATE_DIR, "/var/lib/switchyard");
    const mount = (svc(name).volumes ?? []).map((v) => v.split(":")).find(([, dst]) => dst === "/var/lib/switchyard");
    assert.ok(mount?.[0] && Object.hasOwn(compose.volumes ?? {}, mount[0]), `${name} mounts a named volume there`);
    assert.ok(!seen.has(mount[0]), "two agents never share one state file");
    seen.add(mount[0]);
  }
  assert.match(dockerfile, /mkdir -p \/var\/lib\/switchyard && chown node:node \/var\/lib\/switchyard/);
  assert.ok(dockerfile.indexOf("chown node:node /var/lib/switchyard") < dockerfile.indexOf("USER node"));
});

test("the seed waits for the controller and prints the token; a refusal is one line, not a stack trace", async () => {
  const token = "compose-test-token-0123456789";
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === "/readyz") return res.writeHead(200).end();
    const ok = req.headers.authorization === `Bearer ${token}`;
    res.writeHead(ok ? 200 : 401, { "content-type": "application/json" }).end(JSON.stringify(ok ? { revision: seen.length } : { error: "unauthorized", message: "unknown token" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const seed = (t: string) => node(["examples/seed.mjs"], { cwd: ROOT, env: { ...env(svc("seed")), CONTROLLER_URL: url, TOKEN: t, PATH: process.env.PATH ?? "" } });
  try {
    const r = await seed(token);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`token: +${token}\\n`));
    assert.match(r.stdout, new RegExp(`export SWITCHYARD_URL=http://127\\.0\\.0\\.1:7070 SWITCHYARD_TOKEN=${token}`));
    const bad = await seed("wrong-token-0123456789abcdef");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^seed: PUT \/v1\/pools\/blue: 401 /);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
  } finally {
    server.close();
  }
});

test("compose and pnpm demo agree: agent names and ports, two instances per colour, the same seed", () => {
  assert.match(demo, /DEMO_AGENT_PORTS \?\? "8081,8082"/);
  assert.match(demo, /agent-\$\{String\.fromCharCode\(97 \+ i\)\}/, "demo names agents agent-a, agent-b");
  assert.match(demo, /9901 \+ i/, "demo's admin ports are compose's");
  assert.match(demo, /from "\.\.\/examples\/seed\.mjs"/);
  for (const colour of ["blue", "green"]) {
    assert.equal(env(svc(colour)).INSTANCES, "2");
    assert.match(demo, new RegExp(`COLOR: "${colour}", INSTANCES: "2"`));
  }
  assert.deepEqual(svc("seed").command, ["node", "examples/seed.mjs"]);
  assert.equal(env(svc("seed")).BLUE, "blue:3001,blue:3002");
});

test("agents start with the agent's Node flags, in compose, pnpm demo and the package's start script", () => {
  for (const [name] of AGENTS) {
    const cmd = svc(name).command ?? [];
    assert.deepEqual(missingNodeFlags(cmd.slice(1, cmd.indexOf("packages/agent/dist/main.js"))), [], `${name}: ${cmd.join(" ")}`);
  }
  for (const flag of AGENT_NODE_FLAGS) {
    assert.ok(demo.includes(`["${flag}", "packages/agent/dist/main.js"]`), `pnpm demo passes ${flag}`);
    assert.ok(agentPackage.scripts.start.includes(flag), `the start script passes ${flag}`);
  }
});

// ---- Dockerfile ------------------------------------------------------------------------------

/** End of life of Node's LTS lines (nodejs.org release schedule); a base image must be before it. */
const NODE_EOL: Record<string, string> = { "20": "2026-04-30", "22": "2027-04-30", "24": "2028-04-30" };
const stages = dockerfile.split(/^FROM /m).slice(1).map((s) => `FROM ${s}`);
const lines = (stage: string) => stage.split("\n").filter((l) => /^[A-Z]+ /.test(l));

test("the Dockerfile's base image is a Node LTS line that is still supported", () => {
  const args = Object.fromEntries([...dockerfile.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  const images = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => (m[1] as string).replace(/^\$\{(\w+)\}$/, (_, v: string) => args[v] ?? v));
  assert.equal(images.length, 2, "a build stage and a runtime stage");
  for (const image of images) {
    const major = /^node:(\d+)/.exec(image)?.[1] ?? "";
    const eol = NODE_EOL[major];
    assert.ok(eol, `${image}: not a known Node LTS line`);
    assert.ok(Date.now() < Date.parse(eol), `${image}: Node ${major} reached its end of life on ${eol}`);
  }
});

test("pnpm in the image is exactly package.json's packageManager, installed with npm (not corepack)", () => {
  const version = rootPackage.packageManager.replace(/^pnpm@/, "").replace(/\+.*$/, "");
  assert.match(dockerfile, new RegExp(`^RUN npm install -g [^\\n]*pnpm@${version.replace(/\./g, "\\.")}$`, "m"));
  assert.doesNotMatch(dockerfile, /^RUN .*corepack/m);
});

test("cache-friendly layers: manifests and lockfile, install, then sources, then the build", () => {
  const build = lines(stages[0] as string);
  const at = (re: RegExp) => build.findIndex((l) => re.test(l));
  const install = at(/^RUN pnpm install --frozen-lockfile$/);
  assert.ok(install > 0, "a frozen-lockfile install");
  assert.ok(at(/^COPY package\.json pnpm-lock\.yaml pnpm-workspace\.yaml/) < install);
  const workspace = readdirSync(join(ROOT, "packages")).filter((p) => existsSync(join(ROOT, "packages", p, "package.json")));
  for (const p of workspace) {
    const copy = at(new RegExp(`^COPY packages/${p}/package\\.json packages/${p}/$`));
    assert.ok(copy >= 0 && copy < install, `packages/${p}/package.json is copied before the install`);
  }
  const sources = at(/^COPY packages packages$/);
  assert.ok(sources > install, "sources come after the install");
  assert.ok(at(/^COPY tsconfig\.base\.json/) > install);
  assert.ok(at(/ run build$/) > sources, "the build comes after the sources");
});

test("production dependencies only: the runtime stage gets pnpm deploy --prod output, not the build tree", () => {
  const [build, runtime] = stages as [string, string];
  assert.match(build, /for role in controller agent cli; do/);
  assert.match(build, /deploy --prod "\/out\/packages\/\$role"/);
  const copies = lines(runtime).filter((l) => l.startsWith("COPY"));
  assert.deepEqual(copies, ["COPY --from=build /out/ ./", "COPY examples examples"]);
  assert.doesNotMatch(runtime, /pnpm install|npm install/);
  assert.match(runtime, /^ENV NODE_ENV=production$/m);
  assert.match(runtime, /^USER node$/m);
});

test("the Dockerfile's deploy step, run here, gives each role production dependencies only, and the role starts", () => {
  const deploy = /pnpm --filter "@switchyard\/\$role" (.+) deploy --prod/.exec(dockerfile);
  assert.ok(deploy, "the deploy command");
  const out = mkdtempSync(join(tmpdir(), "deploy-"));
  try {
    for (const role of ["controller", "agent"]) {
      const dir = join(out, "packages", role);
      const r: SpawnSyncReturns<string> = spawnSync("pnpm", ["--filter", `@switchyard/${role}`, ...(deploy[1] as string).split(" "), "deploy", "--prod", dir], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      const installed = readdirSync(join(dir, "node_modules", ".pnpm")).join(" ");
      for (const dev of ["typescript@", "tsx@", "@types+node@", "@switchyard+testkit"]) assert.ok(!installed.includes(dev), `${role} ships ${dev}`);
      // Without its required settings a role exits 2 with its config message: every module loaded.
      const start = spawnSync(process.execPath, [`packages/${role}/dist/main.js`], { cwd: out, encoding: "utf8", timeout: 20_000, env: { PATH: process.env.PATH ?? "", REDIS_URL: "not a url" } });
      assert.equal(start.status, 2, `${role}: ${start.stderr}${start.stdout}`);
      assert.doesNotMatch(start.stderr + start.stdout, /Cannot find (module|package)/);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the Dockerfile copies paths that exist, and .dockerignore keeps host builds and modules out", () => {
  for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const src of (m[1] ?? "").split(/\s+/)) assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} is missing`);
  }
  const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
  for (const entry of ["**/node_modules", "**/dist", ".git"]) assert.ok(ignore.includes(entry), entry);
});
