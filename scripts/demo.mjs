#!/usr/bin/env node
// The docker-compose topology without Docker: Redis (REDIS_URL, or a private redis-server on a
// free port), a controller, two agents, blue and green sample apps with two instances each; seeds
// demo.local -> blue and prints what to try. Run it as `npm run demo` / `pnpm demo` (they install
// and build what is missing first). Ctrl-C stops everything and exits 0.
//   CONTROLLER_PORT (7070), DEMO_AGENT_PORTS (8081,8082), DEMO_ADMIN_PORTS (9901,9902),
//   LOG_LEVEL (info), DEMO_QUIET=1 hides the children's logs.
// Invariants: nothing starts until every port is known to be free; the seed only ever talks to a
// controller that accepts this demo's own token; every exit path stops what was started and
// removes the temp dir; errors are one line, never a stack trace.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { prettyFactory } from "pino-pretty";
import { seed } from "../examples/seed.mjs";

const root = new URL("..", import.meta.url).pathname;
const quiet = process.env.DEMO_QUIET === "1";
const say = (line) => process.stdout.write(`${line}\n`);
/** A problem the user can act on: printed as one line, then everything started is stopped. */
class DemoError extends Error {}

const controllerPort = Number(process.env.CONTROLLER_PORT ?? 7070);
const agentPorts = (process.env.DEMO_AGENT_PORTS ?? "8081,8082").split(",").map(Number);
const adminPorts = (process.env.DEMO_ADMIN_PORTS ?? agentPorts.map((_, i) => 9901 + i).join(",")).split(",").map(Number);
const agentNames = agentPorts.map((_, i) => `agent-${String.fromCharCode(97 + i)}`);

// ---- processes ---------------------------------------------------------------------------

const children = [];
let tmp;
let stopping = false;

// Colours only on a terminal; time and level kept, pid and hostname dropped (one machine).
const pretty = prettyFactory({ colorize: process.stdout.isTTY === true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname", singleLine: true });

function relay(name, stream) {
  const prefix = `[${name}]`.padEnd(13);
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    // Redis's own shutdown chatter is not news once the demo is stopping.
    if (quiet || (stopping && name === "redis")) return;
    for (const line of lines) {
      if (!line.trim()) continue;
      // pino's JSON lines become readable ones; anything else passes through as it is.
      const text = line.startsWith("{") ? pretty(line).trimEnd() : line;
      process.stdout.write(`${prefix} ${text}\n`);
    }
  });
}

/**
 * Each child gets its own process group: Ctrl-C reaches only the demo, which stops the children
 * in order (and quietly) instead of racing them to the exit.
 */
function start(name, cmd, args, env = {}) {
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.demoName = name;
  relay(name, child.stdout);
  relay(name, child.stderr);
  child.once("error", (err) => fail(new DemoError(`${name} could not start: ${err.message}`)));
  child.once("exit", (code, signal) => {
    if (!stopping) fail(new DemoError(`${name} exited (${signal ?? `code ${code}`}) before the demo was stopped`));
  });
  children.push(child);
  return child;
}

const alive = (c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined;
const signalGroup = (c, sig) => {
  try {
    process.kill(-c.pid, sig);
  } catch {
    // already gone
  }
};

/** SIGTERM to each group, SIGKILL after `ms`; resolves when all of them exited. */
async function terminate(list, ms) {
  const running = list.filter(alive);
  for (const c of running) signalGroup(c, "SIGTERM");
  const exited = Promise.all(running.map((c) => (alive(c) ? new Promise((r) => c.once("exit", r)) : null)));
  const timer = setTimeout(() => running.forEach((c) => signalGroup(c, "SIGKILL")), ms);
  await exited;
  clearTimeout(timer);
}

/** Apps, agents and controller first (they deregister through Redis), Redis last. */
async function stop(code) {
  if (stopping) return;
  stopping = true;
  if (children.some(alive) && !quiet) say(code === 0 ? "\nstopping the demo..." : "stopping what the demo started...");
  await terminate(children.filter((c) => c.demoName !== "redis"), 8000);
  await terminate(children.filter((c) => c.demoName === "redis"), 5000);
  cleanupTmp();
  if (code === 0 && !quiet) say("demo stopped.");
  process.exit(code);
}

function cleanupTmp() {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

function fail(err) {
  if (stopping) return;
  const message = err instanceof DemoError ? err.message : `unexpected failure: ${err?.message ?? err}`;
  process.stderr.write(`demo: ${message}\n`);
  if (process.env.DEMO_DEBUG === "1" && err?.stack) process.stderr.write(`${err.stack}\n`);
  void stop(1);
}

process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
process.on("SIGHUP", () => void stop(0));
// Last resort for any exit path not through stop(): leave no process or temp dir behind.
process.on("exit", () => {
  for (const c of children) if (alive(c)) signalGroup(c, "SIGKILL");
  cleanupTmp();
});

// ---- checks before anything starts -----------------------------------------------------------

const portFree = (port) =>
  new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function preflight() {
  const wanted = [[controllerPort, "controller"], ...agentPorts.map((p, i) => [p, agentNames[i]]), ...adminPorts.map((p, i) => [p, `${agentNames[i]} admin`])];
  const bad = wanted.filter(([p]) => !Number.isInteger(p) || p < 1 || p > 65535);
  if (bad.length || adminPorts.length !== agentPorts.length) throw new DemoError("CONTROLLER_PORT, DEMO_AGENT_PORTS and DEMO_ADMIN_PORTS must be ports (one admin port per agent)");
  const busy = [];
  for (const [port, role] of wanted) if (!(await portFree(port))) busy.push(`${port} (${role})`);
  if (busy.length) {
    throw new DemoError(
      `port${busy.length > 1 ? "s" : ""} ${busy.join(", ")} already in use on 127.0.0.1; is another demo running?\n` +
        "  Stop it (Ctrl-C in its terminal), or run this one on other ports, e.g.\n" +
        "  CONTROLLER_PORT=7170 DEMO_AGENT_PORTS=8181,8182 DEMO_ADMIN_PORTS=9911,9912 npm run demo",
    );
  }
  for (const f of ["packages/controller/dist/main.js", "packages/agent/dist/main.js"]) {
    if (!existsSync(join(root, f))) throw new DemoError(`${f} is missing: run the demo with npm run demo (or pnpm demo), which builds first`);
  }
  if (!process.env.REDIS_URL && spawnSync("redis-server", ["--version"]).error) {
    throw new DemoError("the demo needs redis-server on PATH (sudo apt-get install -y redis-server), or REDIS_URL=redis://... pointing at a running Redis");
  }
}

// ---- waiting on what was started -------------------------------------------------------------

async function until(what, deadlineMs, probe) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (stopping) throw new DemoError("stopped");
    const result = await probe().catch(() => undefined);
    if (result) return result;
    if (Date.now() > deadline) throw new DemoError(`${what} within ${deadlineMs / 1000}s`);
    await delay(200);
  }
}

/**
 * Ready means our own controller answers our token. A 401 means some other controller holds the
 * port (one that started after the port check): seeding it would fail, or worse, succeed.
 */
async function controllerReady(url, token) {
  await until("the controller did not answer", 30_000, async () => {
    const res = await fetch(`${url}/v1/state`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 401) throw new DemoError(`${url} is answered by another controller, not this demo's`);
    return res.ok;
  }).catch((err) => {
    throw err instanceof DemoError ? err : new DemoError(String(err));
  });
}

async function agentsApplied(revision) {
  await until(`the agents did not apply revision ${revision}`, 30_000, async () => {
    for (const port of adminPorts) {
      const res = await fetch(`http://127.0.0.1:${port}/status`);
      if (!res.ok || (await res.json()).revision < revision) return false;
    }
    return true;
  });
}

// ---- the demo ---------------------------------------------------------------------------------

async function main() {
  await preflight();
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    tmp = mkdtempSync(join(tmpdir(), "switchyard-demo-"));
    const port = await freePort();
    start("redis", "redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp, "--maxmemory-policy", "noeviction", "--loglevel", "warning"]);
    redisUrl = `redis://127.0.0.1:${port}`;
  }

  const token = process.env.SWITCHYARD_DEMO_TOKEN ?? randomBytes(18).toString("hex");
  // Each instance gets a port found free on its own (consecutive ports may be taken).
  const [bluePorts, greenPorts] = [[await freePort(), await freePort()], [await freePort(), await freePort()]];
  const prefix = process.env.SWITCHYARD_PREFIX ?? "switchyard";
  const common = { REDIS_URL: redisUrl, SWITCHYARD_PREFIX: prefix, LOG_LEVEL: process.env.LOG_LEVEL ?? "info" };

  // Two instances per colour, as in docker-compose.yml.
  start("blue", process.execPath, ["examples/color-app.mjs"], { COLOR: "blue", INSTANCES: "2", PORTS: bluePorts.join(",") });
  start("green", process.execPath, ["examples/color-app.mjs"], { COLOR: "green", INSTANCES: "2", PORTS: greenPorts.join(",") });
  start("controller", process.execPath, ["packages/controller/dist/main.js"], { ...common, CONTROLLER_PORT: String(controllerPort), SWITCHYARD_TOKENS: `demo:write:${token}` });
  agentPorts.forEach((port, i) => {
    const name = agentNames[i];
    // The agent's Node flags (packages/agent/src/node-flags.ts), as in docker-compose.yml. A short
    // drain keeps Ctrl-C quick: the demo's requests are tiny.
    start(name, process.execPath, ["--max-semi-space-size=8", "packages/agent/dist/main.js"], {
      ...common, AGENT_ID: name, AGENT_HOST: "127.0.0.1", AGENT_PORT: String(port), AGENT_ADMIN_PORT: String(adminPorts[i]), AGENT_DRAIN_TIMEOUT_MS: "2000",
    });
  });

  const controller = `http://127.0.0.1:${controllerPort}`;
  await controllerReady(controller, token);
  const { revision } = await seed({
    url: controller,
    token,
    blue: bluePorts.map((p) => `127.0.0.1:${p}`),
    green: greenPorts.map((p) => `127.0.0.1:${p}`),
  });
  await agentsApplied(revision);
  printReady({ revision, token, controller });
}

function printReady({ revision, token, controller }) {
  const cli = "pnpm -s switchyard";
  say(`
Switchyard demo is up (revision ${revision}): demo.local -> blue on ${agentPorts.length} agents.

  export SWITCHYARD_URL=${controller} SWITCHYARD_TOKEN=${token} TOKEN=${token}

  # request through both agents
${agentPorts.map((p) => `  curl -H 'Host: demo.local' http://127.0.0.1:${p}/`).join("\n")}

  # switch the whole fleet to green and wait until every agent has applied it
  curl -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       '${controller}/v1/routes/demo.local?wait=applied&timeout=2000' -d '{"upstream":"green"}'
  ${cli} switch demo.local blue --wait          # the same with the CLI, back to blue

  # the seed's one-liner, fleet-wide
  curl -X POST -H "Authorization: Bearer $TOKEN" '${controller}/_switch_upstream?host=demo.local&upstream=blue&wait=applied'

  # a supervised canary to green: 10% -> 50% -> 100%, health-gated, auto-rollback on errors
  ${cli} cutover demo.local --to green --canary 10,50,100 --interval 10s --bake 10s --watch

  # the fleet: state, pools, routes, agents, the audit log
  ${cli} status
  ${cli} audit --limit 5
${adminPorts.map((p) => `  curl http://127.0.0.1:${p}/status`).join("\n")}

Ctrl-C stops everything.
DEMO READY`);
}

main().catch(fail);
