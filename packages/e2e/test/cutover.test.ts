import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { spawnNode } from "../src/index.js";
import { TOKEN, get, startFleet, type Fleet } from "../src/fleet.js";
import { cutover, finished, startCutover, untilCutover } from "../src/cutover.js";
import { checkRevisions, startLoad } from "../src/load.js";

let redis: RedisHandle;
let fleet: Fleet;
const prefix = randomPrefix("cut");
// Short lock so a killed controller's cutover moves on quickly; fast sampling for quick rollbacks.
const controllerEnv = { CUTOVER_LOCK_MS: "2000", CUTOVER_SAMPLE_MS: "250" };

before(async () => {
  redis = await startRedis();
  fleet = await startFleet(redis, prefix, ["127.0.0.2", "127.0.0.3", "127.0.0.4"], {}, controllerEnv);
  const bad = await freePort();
  const badPort = await freePort();
  fleet.procs.push(spawnNode("green-bad", ["examples/color-app.mjs"], { COLOR: "greenbad", FAIL_RATE: "0.5", PORT: String(badPort) }));
  const badAddr = `127.0.0.1:${badPort}`;
  await waitFor(async () => (await get("127.0.0.1", badPort, "x").catch(() => ({ status: 0 }))).status > 0, { what: "failing green app" });
  const pool = (addrs: string[]) => ({ targets: addrs.map((address) => ({ address })), keepalive: 16 });
  for (const [name, addrs] of Object.entries({ blue: fleet.apps.blue, green: fleet.apps.green, greenbad: [badAddr], greendown: [fleet.apps.green[0] as string, `127.0.0.1:${bad}`] })) {
    assert.equal((await fleet.api("PUT", `/v1/pools/${name}`, pool(addrs))).status, 200);
  }
});
after(async () => {
  await fleet?.stop();
  await redis.stop();
});

/** Routes `host` to blue and waits for every agent's ack; the revision that did it. */
async function onBlue(host: string): Promise<number> {
  const r = await fleet.api("PUT", `/v1/routes/${host}?wait=applied&timeout=5000`, { upstream: "blue" });
  assert.equal(r.body.complete, true, r.text);
  return r.body.revision as number;
}
const ackedAt = (c: { steps: { acks: { appliedAt: string }[] }[] }, step: number) => Math.max(...(c.steps[step]?.acks ?? []).map((a) => Date.parse(a.appliedAt)));

describe("cutovers through 3 agents", () => {
  test("an instant cutover under load succeeds with every ack recorded, no failed request, and every response routed by a revision no older than its agent's ack", async () => {
    const blue = await onBlue("instant.test");
    const load = startLoad(fleet.agents, "instant.test", { floor: blue });
    let c;
    let green = 0;
    try {
      await waitFor(() => load.samples.length > 200, { what: "load" });
      const id = await startCutover(fleet, { host: "instant.test", from: "blue", to: "green", bake: "1s" });
      c = await finished(fleet, id);
      // The record holds every agent's ack of the flip: requests sent from now on must be routed by it.
      green = c.steps[0]?.revision ?? NaN;
      for (const a of c.steps[0]?.acks ?? []) load.acked(fleet.agents.findIndex((x) => x.id === a.id), green);
      await waitFor(() => load.samples.filter((s) => s.floor >= green).length > 50, { what: "traffic sent after the acks" });
    } finally {
      await load.stop();
    }
    assert.equal(c.state, "succeeded", c.reason ?? "");
    assert.equal(c.preflight?.ok, true);
    assert.deepEqual(c.steps[0]?.acks.map((a) => a.id).sort(), ["edge-1", "edge-2", "edge-3"]);
    assert.deepEqual(c.steps[0]?.stragglers, []);
    assert.deepEqual(load.errors, []);
    assert.equal(load.samples.filter((s) => s.status !== 200).length, 0);
    const check = checkRevisions(load.samples, [{ revision: blue, color: "blue" }, { revision: green, color: "green" }]);
    assert.deepEqual(check.unstamped.slice(0, 5), [], "every response names the revision that routed it");
    assert.deepEqual(check.stale.slice(0, 5), [], `${check.stale.length} responses routed by a revision older than their agent's ack`);
    assert.deepEqual(check.wrongColor.slice(0, 5), [], `${check.wrongColor.length} responses disagree with their own revision's route`);
    const flip = ackedAt(c, 0) - Date.parse(c.steps[0]?.writtenAt ?? "");
    console.log(`# instant cutover: write -> last ack ${flip} ms across 3 agents, ${load.samples.length} requests (${check.checked} checked by revision), 0 failed`);
  });

  test("a 10/50/100 canary sends each step's share of traffic to green within 5 points", async () => {
    await onBlue("canary.test");
    // Three steps of 4 s each at full speed: the default 60 000-request bound ran out before the last
    // step once the edge's fast path made requests that much cheaper.
    const load = startLoad(fleet.agents, "canary.test", { perAgent: 3, maxRequests: 300_000 });
    let c;
    try {
      const id = await startCutover(fleet, { host: "canary.test", to: "green", strategy: { canary: { steps: [10, 50, 100], interval: "4s" } }, bake: "3s", preflight: false });
      c = await finished(fleet, id, 60_000);
      // The last step routes on after the cutover ends: on a busy machine its bake alone may carry
      // too few requests to measure a share, so the load runs on until it has enough.
      const last = c.steps.at(-1)?.revision ?? NaN;
      await waitFor(() => load.samples.filter((s) => s.revision >= last).length >= 400, { what: "traffic routed by the last step", timeoutMs: 60_000 });
    } finally {
      await load.stop();
    }
    assert.equal(c.state, "succeeded", c.reason ?? "");
    // Each response is judged by the revision that routed it: step k's revision, up to step k+1's.
    for (const [k, step] of c.steps.entries()) {
      const from = step.revision ?? NaN;
      const until = c.steps[k + 1]?.revision ?? Infinity;
      const window = load.samples.filter((s) => s.revision >= from && s.revision < until);
      const green = window.filter((s) => s.color === "green").length / window.length;
      console.log(`# canary step ${k + 1}: ${step.weight}% target, ${(green * 100).toFixed(1)}% green over ${window.length} requests routed by revision ${from}`);
      assert.ok(window.length >= 400, `step ${k + 1}: only ${window.length} requests`);
      assert.ok(Math.abs(green * 100 - step.weight) <= 5, `step ${k + 1}: ${(green * 100).toFixed(1)}% green, wanted ${step.weight}%`);
    }
    assert.deepEqual(load.samples.filter((s) => !Number.isInteger(s.revision)).slice(0, 5), [], "every response names the revision that routed it");
    assert.equal(load.samples.filter((s) => s.status !== 200).length, 0);
  });

  test("a green that fails half its requests is rolled back within the bake, with the measured rate in the reason", async () => {
    await onBlue("rollback.test");
    const load = startLoad(fleet.agents, "rollback.test");
    let c;
    try {
      // Preflight would already refuse this green (its probes see 500s); the bake is what is under test.
      const id = await startCutover(fleet, { host: "rollback.test", to: "greenbad", bake: "20s", preflight: false, rollback: { maxErrorRate: 0.05, minRequests: 20 } });
      c = await finished(fleet, id);
    } finally {
      await load.stop();
    }
    assert.equal(c.state, "rolled_back");
    assert.match(c.reason ?? "", /error rate (4\d|5\d|6\d)\.\d% \(\d+\/\d+\)/);
    const detect = Date.parse(c.restore?.writtenAt ?? "") - ackedAt(c, 0);
    assert.ok(detect < 20_000, "within the bake");
    console.log(`# rollback: detected and restored ${detect} ms after the flip (${c.reason})`);
    assert.match((await get("127.0.0.2", fleet.agents[0]!.port, "rollback.test")).body, /^blue-/);
  });

  test("with a green target down the cutover fails in preflight and traffic never leaves blue", async () => {
    await onBlue("preflight.test");
    const load = startLoad(fleet.agents, "preflight.test");
    let c;
    try {
      const id = await startCutover(fleet, { host: "preflight.test", to: "greendown", preflight: { path: "/", timeout: "1s" } });
      c = await finished(fleet, id);
    } finally {
      await load.stop();
    }
    assert.equal(c.state, "failed");
    assert.match(c.reason ?? "", /preflight failed/);
    assert.equal(c.steps.length, 0);
    assert.equal(c.preflight?.ok, false);
    assert.ok(load.samples.length > 0 && load.samples.every((s) => s.color === "blue"));
  });

  test("a concurrent manual switch during a canary stops it safely, and a second cutover on the host gets 409", async () => {
    await onBlue("fence.test");
    const id = await startCutover(fleet, { host: "fence.test", to: "green", strategy: { canary: { steps: [10, 50, 100], interval: "3s" } }, preflight: false, rollback: { maxWait: "4s" } });
    await untilCutover(fleet, id, (c) => c.state === "baking" && c.step?.index === 1, "step 1 baking");
    const second = await fleet.api("POST", "/v1/cutovers", { host: "fence.test", to: "green" });
    assert.equal(second.status, 409);
    const manual = await fleet.api("PUT", "/v1/routes/fence.test?wait=applied", { upstream: "127.0.0.1:1" });
    assert.equal(manual.status, 200);
    const c = await finished(fleet, id);
    assert.equal(c.state, "failed");
    assert.match(c.reason ?? "", /concurrent write to fence\.test/);
    const route = await fleet.api("GET", "/v1/routes/fence.test");
    assert.equal(route.body.upstream, "127.0.0.1:1", "the manual write was not overwritten");
  });

  test("abort restores blue", async () => {
    await onBlue("abort.test");
    const id = await startCutover(fleet, { host: "abort.test", to: "green", strategy: { canary: { steps: [50, 100], interval: "30s" } }, preflight: false });
    await untilCutover(fleet, id, (c) => c.state === "baking", "baking");
    assert.equal((await fleet.api("POST", `/v1/cutovers/${id}/abort`)).status, 202);
    const c = await finished(fleet, id);
    assert.equal(c.state, "aborted");
    assert.equal(c.restore?.acks.length, 3);
    for (const a of fleet.agents) assert.match((await get(a.host, a.port, "abort.test")).body, /^blue-/);
  });

  test("promote skips the remaining canary steps and the bake, recording the skipped steps", async () => {
    await onBlue("promote.test");
    const id = await startCutover(fleet, { host: "promote.test", to: "green", strategy: { canary: { steps: [10, 50, 100], interval: "30s" } }, bake: "30s", preflight: false });
    await untilCutover(fleet, id, (c) => c.state === "baking" && c.step?.index === 1, "step 1 baking");
    assert.equal((await fleet.api("POST", `/v1/cutovers/${id}/promote`)).status, 202);
    const c = await finished(fleet, id, 15_000);
    assert.equal(c.state, "succeeded", c.reason ?? "");
    assert.deepEqual(c.steps.map((s) => [s.index, s.weight, s.revision === null]), [[1, 10, false], [2, 50, true], [3, 100, false]]);
    for (const a of fleet.agents) assert.match((await get(a.host, a.port, "promote.test")).body, /^green-/);
  });

  test("a scheduled cutover fires at its time, within 1 s", async () => {
    await onBlue("scheduled.test");
    const at = new Date(Date.now() + 3000);
    const id = await startCutover(fleet, { host: "scheduled.test", to: "green", at: at.toISOString(), preflight: false, bake: "0s" });
    assert.equal((await cutover(fleet, id)).state, "scheduled");
    const c = await finished(fleet, id);
    assert.equal(c.state, "succeeded", c.reason ?? "");
    const skew = Date.parse(c.steps[0]?.writtenAt ?? "") - at.getTime();
    console.log(`# scheduled cutover wrote ${skew} ms after its time`);
    assert.ok(Math.abs(skew) <= 1000, `fired ${skew} ms off`);
  });

  test("a canary with no traffic for its hosts holds, then ends failed 'inconclusive' and restores the original route", async () => {
    await onBlue("quiet.test");
    // Traffic to green for another host: pool-wide counters would see it, the canary must not.
    await fleet.api("PUT", "/v1/routes/elsewhere.test?wait=applied&timeout=5000", { upstream: "green" });
    const other = startLoad(fleet.agents, "elsewhere.test", { perAgent: 1, maxRequests: 20_000, maxMs: 30_000 });
    try {
      const t0 = Date.now();
      const id = await startCutover(fleet, { host: "quiet.test", to: "green", strategy: { canary: { steps: [10, 100], interval: "1s" } }, preflight: false, rollback: { minRequests: 20, maxWait: "4s" } });
      // It holds past its interval rather than moving on.
      await waitFor(async () => Date.now() - t0 > 2500, { what: "past the interval", timeoutMs: 10_000, intervalMs: 100 });
      const holding = await cutover(fleet, id);
      assert.equal(holding.state, "baking", JSON.stringify(holding));
      assert.equal(holding.step?.index, 1);
      const c = await finished(fleet, id);
      assert.equal(c.state, "failed");
      assert.match(c.reason ?? "", /^inconclusive: \d+ of 20 requests/);
      assert.ok(c.restore?.revision !== null && c.restore?.revision !== undefined, "the original route was written back");
      for (const a of fleet.agents) assert.match((await get(a.host, a.port, "quiet.test")).body, /^blue-/);
      console.log(`# canary without traffic: ${c.state} after ${Date.now() - t0} ms (${c.reason})`);
    } finally {
      await other.stop();
    }
  });

  test("the switchyard CLI runs a canary with --watch against the real controller and exits 0 on success", async () => {
    await onBlue("cli.test");
    const { run } = await import("@switchyard/cli");
    let out = "";
    let err = "";
    // A canary step needs evidence: requests for the host on the new upstream.
    const load = startLoad(fleet.agents, "cli.test", { perAgent: 2, maxRequests: 100_000, maxMs: 60_000 });
    const code = await run(
      ["cutover", "cli.test", "--to", "green", "--canary", "50,100", "--interval", "1s", "--bake", "1s", "--no-preflight", "--watch"],
      { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { SWITCHYARD_URL: fleet.controllerUrl, SWITCHYARD_TOKEN: TOKEN } },
    ).finally(() => load.stop());
    assert.equal(code, 0, `${out}\n${err}`);
    assert.match(out, /succeeded/);
    assert.match(out, /step 1\/2/);
    assert.match((await get(fleet.agents[0]!.host, fleet.agents[0]!.port, "cli.test")).body, /^green-/);
  });

  // Last: it may kill the controller the fleet helper talks to.
  test("a controller killed between canary steps: another finishes it, each step applied exactly once", async () => {
    await onBlue("crash.test");
    const port = await freePort();
    const second = spawnNode("controller-2", ["packages/controller/dist/main.js"], {
      REDIS_URL: redis.url, SWITCHYARD_PREFIX: prefix, LOG_LEVEL: "warn", CONTROLLER_PORT: String(port), SWITCHYARD_TOKENS: `e2e:write:${TOKEN}`, ...controllerEnv,
    });
    fleet.procs.push(second);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, { timeoutMs: 20_000, what: "second controller" });
    const load = startLoad(fleet.agents, "crash.test", { perAgent: 2, maxRequests: 200_000, maxMs: 60_000 });
    const id = await startCutover(fleet, { host: "crash.test", to: "green", strategy: { canary: { steps: [10, 50, 100], interval: "3s" } }, bake: "1s", preflight: false });
    await untilCutover(fleet, id, (c) => c.state === "baking" && c.step?.index === 1, "step 1 baking");
    const { Redis } = await import("ioredis");
    const r = new Redis(redis.url);
    const worker = JSON.parse((await r.hget(`{${prefix}}:cutovers`, id)) ?? "{}").worker as string;
    r.disconnect();
    const victim = [fleet.controller, second].find((p) => worker.endsWith(`:${p.child.pid}`));
    assert.ok(victim, `worker ${worker} is one of the controllers`);
    await victim.stop("SIGKILL");
    const survivor = victim === second ? fleet : undefined;
    const api = survivor ? fleet.api : async (method: string, path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, body: await res.json() as any, text: "" };
    };
    const c = await waitFor(async () => {
      const v = (await api("GET", `/v1/cutovers/${id}`)).body;
      return ["succeeded", "rolled_back", "failed", "aborted"].includes(v.state) ? v : undefined;
    }, { timeoutMs: 40_000, what: "cutover finished by the surviving controller" }).finally(() => load.stop());
    assert.equal(c.state, "succeeded", c.reason);
    const audit = (await api("GET", "/v1/audit?limit=1000")).body as { actor: string; target: string }[];
    const ours = audit.filter((a) => a.actor.startsWith(`cutover:${id}/`)).map((a) => a.actor).sort();
    assert.deepEqual(ours, [`cutover:${id}/step-1`, `cutover:${id}/step-2`, `cutover:${id}/step-3`]);
    const route = (await api("GET", "/v1/routes/crash.test")).body;
    assert.equal(route.upstream, "green");
  });
});
