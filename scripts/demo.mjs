#!/usr/bin/env node
// `pnpm demo`: the docker-compose topology without Docker. Redis (REDIS_URL, or a private
// redis-server on a free port), a controller, agents on 8081 and 8082, and blue and green sample
// apps with two instances each; seeds demo.local -> blue and prints what to try. Ctrl-C stops all.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seed } from "../examples/seed.mjs";

const root = new URL("..", import.meta.url).pathname;
const children = [];
let tmp;

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

function start(name, args, env) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const prefix = `[${name}]`.padEnd(13);
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (d) => {
      for (const line of d.split("\n")) if (line.trim() && process.env.DEMO_QUIET !== "1") process.stdout.write(`${prefix} ${line}\n`);
    });
  }
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${prefix} exited (${signal ?? code}); stopping the demo`);
      stop(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill("SIGTERM");
  const deadline = setTimeout(() => children.forEach((c) => c.kill("SIGKILL")), 5000);
  Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once("exit", r))))).then(() => {
    clearTimeout(deadline);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    process.exit(code);
  });
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

let redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  if (spawnSync("redis-server", ["--version"]).error) {
    console.error(
      "pnpm demo needs Redis. Either:\n" +
        "  - install redis-server (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or\n" +
        "  - point it at a running Redis: REDIS_URL=redis://127.0.0.1:6379 pnpm demo, or\n" +
        "  - run the same topology in containers: docker compose up",
    );
    process.exit(1);
  }
  tmp = mkdtempSync(join(tmpdir(), "switchyard-demo-"));
  const port = await freePort();
  const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp, "--maxmemory-policy", "noeviction"], { stdio: "ignore" });
  children.push(redis);
  redisUrl = `redis://127.0.0.1:${port}`;
}

const token = process.env.SWITCHYARD_DEMO_TOKEN ?? randomBytes(18).toString("hex");
const controllerPort = Number(process.env.CONTROLLER_PORT ?? 7070);
const agentPorts = (process.env.DEMO_AGENT_PORTS ?? "8081,8082").split(",").map(Number);
// Each instance gets a port found free on its own (consecutive ports may be taken).
const [bluePorts, greenPorts] = [[await freePort(), await freePort()], [await freePort(), await freePort()]];
const prefix = process.env.SWITCHYARD_PREFIX ?? "switchyard";
const common = { REDIS_URL: redisUrl, SWITCHYARD_PREFIX: prefix, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" };

// Two instances per colour, as in docker-compose.yml.
start("blue", ["examples/color-app.mjs"], { COLOR: "blue", INSTANCES: "2", PORTS: bluePorts.join(",") });
start("green", ["examples/color-app.mjs"], { COLOR: "green", INSTANCES: "2", PORTS: greenPorts.join(",") });
start("controller", ["packages/controller/dist/main.js"], { ...common, CONTROLLER_PORT: String(controllerPort), SWITCHYARD_TOKENS: `demo:write:${token}` });
agentPorts.forEach((port, i) => {
  const name = `agent-${String.fromCharCode(97 + i)}`;
  // The agent's Node flags (packages/agent/src/node-flags.ts), as in docker-compose.yml.
  start(name, ["--max-semi-space-size=8", "packages/agent/dist/main.js"], { ...common, AGENT_ID: name, AGENT_HOST: "127.0.0.1", AGENT_PORT: String(port), AGENT_ADMIN_PORT: String(9901 + i) });
});

const controller = `http://127.0.0.1:${controllerPort}`;
const { revision } = await seed({
  url: controller,
  token,
  blue: bluePorts.map((p) => `127.0.0.1:${p}`),
  green: greenPorts.map((p) => `127.0.0.1:${p}`),
});

console.log(`
Switchyard demo is up (revision ${revision}): demo.local -> blue on ${agentPorts.length} agents.

  export TOKEN=${token}

  # request through both agents
${agentPorts.map((p) => `  curl -H 'Host: demo.local' http://127.0.0.1:${p}/`).join("\n")}

  # switch the whole fleet to green and wait until every agent has applied it
  curl -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       '${controller}/v1/routes/demo.local?wait=applied&timeout=2000' -d '{"upstream":"green"}'

  # the seed's one-liner, fleet-wide
  curl -X POST -H "Authorization: Bearer $TOKEN" '${controller}/_switch_upstream?host=demo.local&upstream=blue&wait=applied'

  # a supervised canary to green: 10% -> 50% -> 100%, health-gated, auto-rollback on errors
  curl -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' ${controller}/v1/cutovers \
       -d '{"host":"demo.local","to":"green","strategy":{"canary":{"steps":[10,50,100],"interval":"10s"}},"bake":"10s"}'
  # ...or with the CLI, watching it live (switch back to blue first if the canary above ran)
  SWITCHYARD_URL=${controller} SWITCHYARD_TOKEN=$TOKEN node packages/cli/dist/main.js cutover demo.local --to green --canary 10,50,100 --interval 10s --bake 10s --watch

  # which agent applied which revision
  curl -H "Authorization: Bearer $TOKEN" ${controller}/v1/agents
${agentPorts.map((_, i) => `  curl http://127.0.0.1:${9901 + i}/status`).join("\n")}

Ctrl-C stops everything.
DEMO READY`);
