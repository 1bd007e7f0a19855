import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { spawnNode, type Proc } from "../src/index.js";

// Fault mode 7: a controller and an agent that cannot reach Redis say why, in the driver's words
// (ECONNREFUSED, WRONGPASS), in their logs (once per cause, not once per retry), in the
// controller's /readyz and in the agent's /status lastError. Real processes, real redis-server.
let live: RedisHandle;
let admin: Redis;
const procs: Proc[] = [];

before(async () => {
  live = await startRedis();
  admin = new Redis(live.url);
  admin.on("error", () => undefined);
  await admin.config("SET", "requirepass", "right-password");
});
after(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
  await admin.config("SET", "requirepass", "").catch(() => undefined);
  admin.disconnect();
  await live.stop();
});

async function pair(url: string) {
  const common = { REDIS_URL: url, SWITCHYARD_PREFIX: randomPrefix(), LOG_LEVEL: "debug" };
  const ctlPort = await freePort();
  const adminPort = await freePort();
  const controller = spawnNode("controller", ["packages/controller/dist/main.js"], {
    ...common, CONTROLLER_PORT: String(ctlPort), SWITCHYARD_TOKENS: "t:write:0123456789abcdef0123",
  });
  const agent = spawnNode("agent", ["packages/agent/dist/main.js"], {
    ...common, AGENT_ID: "a1", AGENT_HOST: "127.0.0.1", AGENT_PORT: String(await freePort()), AGENT_ADMIN_PORT: String(adminPort),
  });
  procs.push(controller, agent);
  const readyz = async () => {
    const res = await fetch(`http://127.0.0.1:${ctlPort}/readyz`);
    return { status: res.status, body: (await res.json()) as { error?: string; message?: string } };
  };
  const status = async () => (await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as { redis: string; lastError: string | null };
  const lines = (p: Proc, re: RegExp) => p.output().split("\n").filter((l) => re.test(l));
  return { controller, agent, readyz, status, lines };
}

async function assertSaysWhy(url: string, cause: RegExp): Promise<void> {
  const p = await pair(url);
  const t0 = Date.now();
  await waitFor(async () => cause.test((await p.status().catch(() => ({ lastError: "" }))).lastError ?? ""), {
    timeoutMs: 20_000, what: `agent lastError matching ${cause}; output: ${p.agent.output()}`,
  });
  await waitFor(async () => cause.test((await p.readyz().catch(() => ({ body: { message: "" } }))).body.message ?? ""), {
    timeoutMs: 20_000, what: `controller readyz naming ${cause}; output: ${p.controller.output()}`,
  });
  const detectMs = Date.now() - t0;
  const r = await p.readyz();
  assert.equal(r.status, 503);
  assert.doesNotMatch(r.body.message ?? "", /127\.0\.0\.1|:\d{2,5}\b/, "no Redis address on the unauthenticated probe");
  // Retries go on (debug lines), the warn lines do not: one per connection at most.
  await waitFor(() => p.lines(p.controller, /"redis error"|ECONNREFUSED|WRONGPASS/).length >= 8 || p.lines(p.agent, /"redis error"/).length >= 8, {
    timeoutMs: 20_000, what: "several retries",
  });
  const ctlWarn = p.lines(p.controller, /redis unreachable/);
  assert.ok(ctlWarn.length >= 1 && ctlWarn.length <= 5, `controller: one line per connection (command, acks, queue, worker, events) at most\n${p.controller.output()}`);
  assert.ok(ctlWarn.every((l) => cause.test(l)), ctlWarn.join("\n"));
  const agentWarn = p.lines(p.agent, /redis unreachable/);
  assert.equal(agentWarn.length, 1, p.agent.output());
  assert.match(agentWarn[0] ?? "", cause);
  console.log(`# fault mode 7 (${cause.source}): F=n/a L=0 D=${detectMs}ms C=n/a`);
  await Promise.all([p.controller.stop(), p.agent.stop()]);
}

test("a refused port: the controller's log and /readyz and the agent's log and lastError say ECONNREFUSED", async () => {
  await assertSaysWhy(`redis://127.0.0.1:${await freePort()}`, /ECONNREFUSED/);
});

test("a wrong password: the controller's log and /readyz and the agent's log and lastError say WRONGPASS", async () => {
  await assertSaysWhy(`redis://:wrong-password@127.0.0.1:${live.port}`, /WRONGPASS/);
});

test("no password where one is required: both processes say NOAUTH", async () => {
  await assertSaysWhy(live.url, /NOAUTH/);
});

test("a controller refuses to start on a Redis whose maxmemory-policy evicts keys, and says why", async () => {
  const evicting = await startRedis();
  const a = new Redis(evicting.url);
  a.on("error", () => undefined);
  try {
    await a.config("SET", "maxmemory-policy", "allkeys-lru");
    const controller = spawnNode("controller", ["packages/controller/dist/main.js"], {
      REDIS_URL: evicting.url, SWITCHYARD_PREFIX: randomPrefix(), CONTROLLER_PORT: String(await freePort()), SWITCHYARD_TOKENS: "t:write:0123456789abcdef0123",
    });
    procs.push(controller);
    await waitFor(() => controller.child.exitCode !== null, { timeoutMs: 20_000, what: `controller exit; output: ${controller.output()}` });
    assert.equal(controller.child.exitCode, 2);
    assert.match(controller.output(), /maxmemory-policy is 'allkeys-lru'.*would delete.*noeviction/);
  } finally {
    a.disconnect();
    await evicting.stop();
  }
});
