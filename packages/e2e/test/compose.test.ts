import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { AGENT_NODE_FLAGS, loadConfig as agentConfig, missingNodeFlags } from "@switchyard/agent";
import { loadConfig as controllerConfig } from "@switchyard/controller";
import { ROOT } from "../src/index.js";

// There is no Docker engine here, so compose and the Dockerfile are checked statically, against
// the code they run and against `pnpm demo`, which must stay the same topology.
type Service = { command?: string[]; environment?: Record<string, string>; ports?: string[]; image?: string; build?: string };
const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"), { merge: true }) as { services: Record<string, Service> };
const demo = readFileSync(join(ROOT, "scripts/demo.mjs"), "utf8");
const agentPackage = JSON.parse(readFileSync(join(ROOT, "packages/agent/package.json"), "utf8")) as { scripts: { start: string } };
// Compose's own default for ${SWITCHYARD_TOKEN:-...}.
const interpolate = (v: string) => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");
const env = (s: Service) => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));

test("compose holds the demo topology: redis, controller, two agents, blue, green and the seed", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ["agent-a", "agent-b", "blue", "controller", "green", "redis", "seed"]);
});

test("docker-compose config accepts the file when docker-compose is installed", (t) => {
  const r = spawnSync("docker-compose", ["-f", join(ROOT, "docker-compose.yml"), "config", "-q"], { encoding: "utf8" });
  if (r.error) {
    t.diagnostic("docker-compose is not installed; the YAML-level checks in this file still ran");
    return;
  }
  assert.equal(r.status, 0, r.stderr);
});

test("every compose command runs a file that exists after pnpm build", () => {
  for (const [name, s] of Object.entries(compose.services)) {
    if (name === "redis") continue;
    const file = s.command?.find((a) => a.endsWith(".js") || a.endsWith(".mjs"));
    assert.ok(file && existsSync(join(ROOT, file)), `${name}: ${file} does not exist`);
  }
});

test("the controller and agent environments pass their own config validation", () => {
  const c = controllerConfig(env(compose.services.controller as Service));
  assert.equal(c.port, 7070);
  for (const [name, port] of [["agent-a", 8081], ["agent-b", 8082]] as const) {
    const a = agentConfig(env(compose.services[name] as Service));
    assert.equal(a.id, name);
    assert.equal(a.port, port);
    assert.equal(a.adminHost, "127.0.0.1", "the admin port stays on loopback");
    assert.ok(compose.services[name]?.ports?.includes(`127.0.0.1:${port}:${port}`));
  }
});

test("compose and pnpm demo agree: agent names and ports, two instances per colour, the same seed", () => {
  assert.match(demo, /DEMO_AGENT_PORTS \?\? "8081,8082"/);
  assert.match(demo, /agent-\$\{String\.fromCharCode\(97 \+ i\)\}/, "demo names agents agent-a, agent-b");
  assert.match(demo, /from "\.\.\/examples\/seed\.mjs"/);
  for (const colour of ["blue", "green"]) {
    assert.equal(compose.services[colour]?.environment?.INSTANCES, "2");
    assert.match(demo, new RegExp(`COLOR: "${colour}", INSTANCES: "2"`));
  }
  assert.deepEqual(compose.services.seed?.command, ["node", "examples/seed.mjs"]);
  assert.equal(compose.services.seed?.environment?.BLUE, "blue:3001,blue:3002");
});

test("agents start with the agent's Node flags, in compose, pnpm demo and the package's start script", () => {
  for (const name of ["agent-a", "agent-b"]) {
    const cmd = compose.services[name]?.command ?? [];
    assert.deepEqual(missingNodeFlags(cmd.slice(1, cmd.indexOf("packages/agent/dist/main.js"))), [], `${name}: ${cmd.join(" ")}`);
  }
  for (const flag of AGENT_NODE_FLAGS) {
    assert.ok(demo.includes(`start(name, ["${flag}", "packages/agent/dist/main.js"]`), `pnpm demo passes ${flag}`);
    assert.ok(agentPackage.scripts.start.includes(flag), `the start script passes ${flag}`);
  }
});

test("redis runs with maxmemory-policy noeviction, as Switchyard requires", () => {
  const cmd = compose.services.redis?.command ?? [];
  assert.equal(cmd[cmd.indexOf("--maxmemory-policy") + 1], "noeviction");
});

test("the Dockerfile copies paths that exist and runs on a supported Node", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const src of (m[1] ?? "").split(/\s+/)) assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} is missing`);
  }
  for (const m of dockerfile.matchAll(/^FROM node:(\d+)/gm)) assert.ok(Number(m[1]) >= 20);
  assert.match(dockerfile, /pnpm install --frozen-lockfile/);
});
