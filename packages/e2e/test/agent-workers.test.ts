import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { AgentRecord, PROTOCOL_VERSION, buildKeys } from "@switchyard/shared";
import { randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { get, startFleet, type Fleet } from "../src/fleet.js";

let redis: RedisHandle;
let fleet: Fleet;
const prefix = randomPrefix("workers");

// One agent with two worker processes, every request through Node's server (AGENT_FAST_PATH=off);
// the other e2e tests run one process with the fast path in front.
before(async () => {
  redis = await startRedis();
  fleet = await startFleet(redis, prefix, ["127.0.0.6"], { AGENT_WORKERS: "2", AGENT_FAST_PATH: "off" });
  await fleet.api("PUT", "/v1/pools/blue", { targets: fleet.apps.blue.map((address) => ({ address })) });
  await fleet.api("PUT", "/v1/pools/green", { targets: fleet.apps.green.map((address) => ({ address })) });
});
after(async () => {
  await fleet?.stop();
  await redis.stop();
});

type Status = { revision: number; redis: string; workers?: { pid: number; revision: number; ready: boolean }[] };

test("a two-worker agent acks only once both workers applied, and /status shows each worker's revision", async () => {
  const [a] = fleet.agents;
  assert.ok(a);
  const flip = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: "green" });
  assert.equal(flip.body.complete, true, flip.text);
  const status = (await (await fetch(`http://127.0.0.1:${a.adminPort}/status`)).json()) as Status;
  assert.equal(status.workers?.length, 2);
  assert.ok(status.workers?.every((w) => w.revision === flip.body.revision && w.ready), JSON.stringify(status));
  assert.equal(status.revision, flip.body.revision);
  // After the ack, every connection lands on a worker that serves green, by that revision or a newer one.
  for (let i = 0; i < 20; i++) {
    const r = await get(a.host, a.port, "demo.local");
    assert.match(r.body, /^green-/);
    assert.ok(r.revision >= flip.body.revision, `routed by revision ${r.revision}, acked ${flip.body.revision}`);
  }
  const agents = (await fleet.api("GET", "/v1/agents")).body as { id: string; workers?: unknown[] }[];
  assert.equal(agents[0]?.workers?.length, 2);
});

test("a worker that dies is respawned and catches up before the agent counts as applied again", async () => {
  const [a] = fleet.agents;
  assert.ok(a);
  const before = (await (await fetch(`http://127.0.0.1:${a.adminPort}/status`)).json()) as Status;
  const victim = before.workers?.[0]?.pid;
  assert.ok(victim);
  process.kill(victim, "SIGKILL");
  await waitFor(async () => {
    const s = (await (await fetch(`http://127.0.0.1:${a.adminPort}/status`)).json()) as Status;
    return s.workers?.length === 2 && !s.workers.some((w) => w.pid === victim) && s.workers.every((w) => w.ready);
  }, { timeoutMs: 15_000, what: "respawned worker ready" });
  const flip = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: "blue" });
  assert.equal(flip.body.complete, true, flip.text);
  for (let i = 0; i < 20; i++) {
    const r = await get(a.host, a.port, "demo.local");
    assert.match(r.body, /^blue-/);
    assert.ok(r.revision >= flip.body.revision, `routed by revision ${r.revision}, acked ${flip.body.revision}`);
  }
});

test("a revision the workers refuse is the agent's nack in /status and its record, until a write at that revision applies", async () => {
  const [a] = fleet.agents;
  assert.ok(a);
  const keys = buildKeys(prefix);
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  const adminStatus = async () => (await (await fetch(`http://127.0.0.1:${a.adminPort}/status`)).json()) as Status & { rejected?: { revision: number; reason: string } };
  const record = async () => AgentRecord.parse(JSON.parse((await client.get(keys.agent(a.id))) ?? "null"));
  try {
    const next = ((await fleet.api("GET", "/v1/state")).body as { revision: number }).revision + 1;
    // A change that cannot apply to the store's state (its route names no pool): every worker refuses it.
    const forged = { v: PROTOCOL_VERSION, epoch: await client.get(keys.epoch), rev: next, at: Date.now(), actor: "forger", ops: [{ op: "route.put", host: "x.test", route: { upstream: "ghost" } }] };
    await client.publish(keys.changes, JSON.stringify(forged));
    await waitFor(async () => (await record()).rejected?.revision === next, { timeoutMs: 10_000, what: "nack in the agent record" });
    assert.match((await record()).rejected?.reason ?? "", /unknown pool 'ghost'/);
    assert.equal((await adminStatus()).rejected?.revision, next);

    const flip = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: "green" });
    assert.equal(flip.body.revision, next);
    assert.equal(flip.body.complete, true, flip.text);
    await waitFor(async () => (await record()).rejected === undefined, { timeoutMs: 10_000, what: "nack dropped from the record" });
    assert.equal((await adminStatus()).rejected, undefined);
  } finally {
    client.disconnect();
  }
});
