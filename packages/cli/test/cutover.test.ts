// Cutover commands against a stub HTTP server that implements the cutover API contract (the
// controller's implementation is developed separately); see stub.ts.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import type { Cutover } from "../src/index.js";
import { close, cli, listen } from "./helpers.js";
import { createStub, snapshot, stubEnv, type Stub } from "./stub.js";

let stub: Stub;
let env: Record<string, string>;
const fast = { idleMs: 2000, retries: 3, retryDelayMs: 1 };

before(async () => {
  stub = createStub();
  env = stubEnv(await listen(stub.server));
});
after(() => close(stub.server));
beforeEach(() => stub.reset());

const ID = "co-000000000100";
const base = { id: ID, hosts: ["shop.example.com"], strategy: { canary: { steps: [10, 100], interval: "30s" } } } satisfies Partial<Cutover>;
const ack = (id: string) => ({ id, appliedAt: "2026-11-24T18:00:01.000Z" });

/** A two-step canary as the controller reports it, one snapshot per saved change. */
function canaryRun(final: "succeeded" | "rolled_back"): Cutover[] {
  const pre = { ok: true, targets: { "10.0.0.2:80": { ok: true, agents: { "edge-1": { ok: true, status: 200, ms: 3 } } } }, missingAgents: [] };
  const s1 = { index: 1, weight: 10, revision: 7, writtenAt: "2026-11-24T18:00:01.000Z", acks: [], stragglers: [] };
  const s1acked = { ...s1, acks: [ack("edge-1")], stragglers: ["edge-2"] };
  const reading = { at: "2026-11-24T18:00:05.000Z", requests: 40, errors: final === "succeeded" ? 1 : 12, errorRate: final === "succeeded" ? 0.025 : 0.3 };
  const out: Cutover[] = [
    snapshot({ ...base, state: "preflight" }),
    snapshot({ ...base, state: "switching", step: { index: 1, total: 2, weight: 10 }, preflight: pre }),
    snapshot({ ...base, state: "waiting_acks", step: { index: 1, total: 2, weight: 10 }, preflight: pre, steps: [s1] }),
    snapshot({ ...base, state: "baking", step: { index: 1, total: 2, weight: 10 }, preflight: pre, steps: [s1acked], readings: [reading] }),
  ];
  const last = out[3] as Cutover;
  if (final === "rolled_back") {
    out.push({ ...last, state: "rolled_back", reason: "error rate 30.0% (12/40) at step 1 exceeded 5.0%; original upstream restored" });
  } else {
    const s2 = { index: 2, weight: 100, revision: 8, writtenAt: "2026-11-24T18:00:31.000Z", acks: [ack("edge-1"), ack("edge-2")], stragglers: [] };
    out.push({ ...last, state: "succeeded", step: { index: 2, total: 2, weight: 100 }, steps: [s1acked, s2], reason: "every step applied" });
  }
  return out;
}

describe("cutover request body (stub server)", () => {
  test("one host and --to only: the controller's defaults stay the defaults", async () => {
    const r = await cli(["cutover", "shop.example.com", "--to", "green"], env);
    assert.deepEqual(r, { code: 0, stdout: `cutover ${ID} started; follow it with: switchyard cutover-status ${ID}\n`, stderr: "" });
    const post = stub.requests.find((q) => q.method === "POST");
    assert.deepEqual(post?.body, { host: "shop.example.com", to: "green" });
    assert.equal(post?.url, "/v1/cutovers");
  });

  test("every option maps onto the contract, several hosts become hosts[]", async () => {
    const r = await cli([
      "cutover", "a.example.com", "b.example.com", "--to", "blue=50,green=50", "--from", "blue", "--canary", "5,25,50,100",
      "--interval", "10s", "--bake", "2m", "--ack-timeout", "500ms", "--probe-path", "/healthz", "--probe-timeout", "2s",
      "--max-error-rate", "2%", "--min-requests", "50", "--at", "2026-11-24T18:00:00Z", "--json",
    ], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { id: ID });
    assert.deepEqual(stub.requests[0]?.body, {
      hosts: ["a.example.com", "b.example.com"],
      to: { split: { blue: 50, green: 50 } },
      from: "blue",
      strategy: { canary: { steps: [5, 25, 50, 100], interval: "10s" } },
      preflight: { path: "/healthz", timeout: "2s" },
      ackTimeout: "500ms",
      bake: "2m",
      rollback: { maxErrorRate: 0.02, minRequests: 50 },
      at: "2026-11-24T18:00:00Z",
    });
  });

  test("--canary alone gets a 30s interval; --no-preflight sends preflight: false", async () => {
    await cli(["cutover", "a.example.com", "--to", "unix:/run/green.sock", "--canary", "50,100", "--no-preflight"], env);
    assert.deepEqual(stub.requests[0]?.body, { host: "a.example.com", to: "unix:/run/green.sock", strategy: { canary: { steps: [50, 100], interval: "30s" } }, preflight: false });
  });

  test("usage errors exit 2 and send nothing", async () => {
    const bad = [
      ["cutover", "a.com"],
      ["cutover", "--to", "green"],
      ["cutover", "a.com", "--to", "green", "--interval", "10s"],
      ["cutover", "a.com", "--to", "green", "--no-preflight", "--probe-path", "/x"],
      ["cutover", "a.com", "--to", "green", "--canary", "50,25,100"],
      ["cutover", "a.com", "--to", "green", "--canary", "5,50"],
      ["cutover", "a.com", "--to", "green", "--bake", "30"],
      ["cutover", "a.com", "--to", "green", "--at", "2026-11-24T18:00:00"],
      ["cutover", "a.com", "--to", "green", "--max-error-rate", "1.5"],
      ["cutover", "a.com", "a.com", "--to", "green"],
    ];
    for (const argv of bad) {
      const r = await cli(argv, env);
      assert.equal(r.code, 2, `${argv.join(" ")} -> ${r.code} ${r.stderr}`);
      assert.match(r.stderr, /^error: /, argv.join(" "));
    }
    assert.equal(stub.requests.length, 0);
  });

  test("409 from the controller prints its message and exits 1", async () => {
    const r = await cli(["cutover", "busy.example.com", "--to", "green"], env);
    assert.deepEqual(r, { code: 1, stdout: "", stderr: "error: host busy.example.com already has an active cutover (co-0000000000aa) (field: host)\n" });
  });
});

describe("cutover --watch over SSE (stub server)", () => {
  test("renders each progress event as it arrives and exits 0 on succeeded", async () => {
    let sawFirst!: () => void;
    const firstRendered = new Promise<void>((resolve) => (sawFirst = resolve));
    stub.streams.set(ID, [{ events: canaryRun("succeeded"), then: "end", gate: firstRendered, gateAt: 1 }]);
    const r = await cli(["cutover", "shop.example.com", "--to", "green", "--canary", "10,100", "--watch"], env, {
      watch: fast,
      // The stub holds back event 2 until event 1 is on screen: output is live, not buffered to the end.
      onOut: (s) => s.includes("preflight") && sawFirst(),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.trimEnd().split("\n").map((l) => l.replace(/^\d\d:\d\d:\d\d {2}/, ""));
    assert.deepEqual(lines, [
      `cutover ${ID} started; watching (Ctrl-C stops watching, not the cutover)`,
      `cutover ${ID}: shop.example.com blue -> green, canary 10,100 every 30s`,
      "preflight",
      "preflight ok: 1 target healthy from the edges",
      "switching (step 1/2, 10%)",
      "step 1/2 (10%) written at revision 7",
      "waiting_acks (step 1/2, 10%)",
      "step 1/2 (10%) acked by 1/2 agents; stragglers: edge-2",
      "baking (step 1/2, 10%)",
      "error rate 2.5% (1/40 requests)",
      "step 2/2 (100%) written at revision 8",
      "step 2/2 (100%) acked by 2/2 agents",
      "succeeded: every step applied",
    ]);
    assert.ok(stub.requests.some((q) => q.url === `/v1/cutovers/${ID}/events`));
  });

  test("exits 1 on rolled_back and prints the reason", async () => {
    stub.streams.set(ID, [{ events: canaryRun("rolled_back"), then: "end" }]);
    const r = await cli(["cutover", "shop.example.com", "--to", "green", "--watch"], env, { watch: fast });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /error rate 30\.0% \(12\/40 requests\)\n/);
    assert.match(r.stdout, /rolled_back: error rate 30\.0% \(12\/40\) at step 1 exceeded 5\.0%; original upstream restored\n$/);
  });

  test("--json --watch prints one snapshot per line and the exit code follows the final state", async () => {
    const run = canaryRun("rolled_back");
    stub.streams.set(ID, [{ events: run, then: "end" }]);
    const r = await cli(["--json", "cutover", "shop.example.com", "--to", "green", "--watch"], env, { watch: fast });
    assert.equal(r.code, 1);
    assert.deepEqual(r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l)), run);
  });

  test("a dropped stream is re-read and reconnected without repeating lines", async () => {
    const run = canaryRun("succeeded");
    stub.streams.set(ID, [
      { events: run.slice(0, 3), then: "drop" },
      { events: run.slice(2), then: "end" },
    ]);
    const r = await cli(["cutover", "shop.example.com", "--to", "green", "--watch"], env, { watch: fast });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stub.requests.filter((q) => q.url.endsWith("/events")).length, 2);
    assert.equal(r.stdout.match(/written at revision 7/g)?.length, 1);
    assert.match(r.stdout, /succeeded: every step applied\n$/);
  });

  test("a silent stream is noticed by the idle timeout and reconnected", async () => {
    const run = canaryRun("succeeded");
    stub.streams.set(ID, [
      { events: run.slice(0, 2), then: "stall" },
      { events: run.slice(1), then: "end" },
    ]);
    const r = await cli(["cutover", "shop.example.com", "--to", "green", "--watch"], env, { watch: { ...fast, idleMs: 150 } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stub.requests.filter((q) => q.url.endsWith("/events")).length, 2);
  });

  test("a stream that keeps ending without progress gives up with a clear error", async () => {
    const stuck = snapshot({ ...base, state: "baking", step: { index: 1, total: 2, weight: 10 } });
    stub.streams.set(ID, Array.from({ length: 10 }, () => ({ events: [stuck], then: "end" as const })));
    const r = await cli(["cutover", "shop.example.com", "--to", "green", "--watch"], env, { watch: fast });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: lost the event stream of cutover ${ID} \\(the stream ended before the cutover finished\\); it keeps running on the controller: switchyard cutover-status ${ID}\\n$`));
    assert.equal(stub.requests.filter((q) => q.url.endsWith("/events")).length, 4);
  });

  test("cutover-status --watch follows an existing cutover", async () => {
    stub.cutovers.set(ID, snapshot(base));
    stub.streams.set(ID, [{ events: canaryRun("succeeded"), then: "end" }]);
    const r = await cli(["cutover-status", ID, "--watch"], env, { watch: fast });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /succeeded: every step applied\n$/);
  });
});

describe("cutovers, cutover-status, abort, promote (stub server)", () => {
  test("cutovers lists newest first; cutover-status shows steps, readings and preflight", async () => {
    const done = canaryRun("succeeded").at(-1) as Cutover;
    stub.cutovers.set(ID, done);
    stub.cutovers.set("co-000000000101", snapshot({ id: "co-000000000101", hosts: ["a.com", "b.com"], state: "scheduled", at: "2026-11-25T06:00:00Z", strategy: "instant" }));
    const list = await cli(["cutovers"], env);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trimEnd().split("\n");
    assert.match(rows[0] ?? "", /^ID\s+STATE\s+STEP\s+HOSTS\s+TO\s+CREATED$/);
    assert.match(rows[1] ?? "", /^co-000000000101\s+scheduled\s+-\s+a\.com,b\.com\s+green\s/);
    assert.match(rows[2] ?? "", new RegExp(`^${ID}\\s+succeeded\\s+2/2 100%\\s+shop\\.example\\.com\\s+green\\s`));

    const one = await cli(["cutover-status", ID], env);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^state\s+succeeded \(step 2\/2, 100%\)$/m);
    assert.match(one.stdout, /^from\s+blue$/m);
    assert.match(one.stdout, /^strategy\s+canary 10,100 every 30s$/m);
    assert.match(one.stdout, /^reason\s+every step applied$/m);
    assert.match(one.stdout, /^preflight ok: 1 target healthy from the edges$/m);
    assert.match(one.stdout, /^\s+1\s+10%\s+7\s+18:00:01\s+1\s+edge-2$/m);
    assert.match(one.stdout, /^\s+2\s+100%\s+8\s+18:00:31\s+2\s+-$/m);
    assert.match(one.stdout, /^\s+18:00:05\s+40\s+1\s+2\.5%$/m);
    const raw = await cli(["cutover-status", ID, "--json"], env);
    assert.deepEqual(JSON.parse(raw.stdout), done);
  });

  test("a failed preflight names the unhealthy targets and agents", async () => {
    stub.cutovers.set(ID, snapshot({
      ...base, state: "failed", reason: "preflight failed (unhealthy from the edges: 10.0.0.2:80); traffic was not moved",
      preflight: { ok: false, targets: { "10.0.0.2:80": { ok: false, agents: { "edge-1": { ok: false, error: "ECONNREFUSED", ms: 1 }, "edge-2": { ok: false, status: 503, ms: 4 } } } }, missingAgents: ["edge-3"] },
    }));
    const r = await cli(["cutover-status", ID], env);
    assert.match(r.stdout, /^preflight failed:\n {2}10\.0\.0\.2:80 unhealthy from edge-1: ECONNREFUSED, edge-2: HTTP 503\n {2}agents that did not report: edge-3$/m);
  });

  test("abort waits for the restore's acks and prints them; --no-wait returns at once", async () => {
    const baking = snapshot({ ...base, state: "baking" });
    const restore = { index: 0, weight: 0, revision: 9, writtenAt: "2026-11-24T18:00:09.000Z", acks: [], stragglers: [] };
    stub.cutovers.set(ID, baking);
    stub.gets.set(ID, [baking, { ...baking, restore }, { ...baking, state: "aborted", reason: "aborted by an operator; original upstream restored", restore: { ...restore, acks: [ack("edge-1"), ack("edge-2")] } }]);
    const r = await cli(["abort", ID], env, { pollMs: 5 });
    assert.deepEqual(r, {
      code: 0,
      stdout: `cutover ${ID}: abort requested (state: baking); waiting for the agents' acks\n` +
        `cutover ${ID}: aborted: aborted by an operator; original upstream restored\n` +
        "restore: original routes written back at revision 9, acked by 2/2 agents\n",
      stderr: "",
    });
    assert.deepEqual(stub.requests.map((q) => `${q.method} ${q.url}`), [`POST /v1/cutovers/${ID}/abort`, ...Array(3).fill(`GET /v1/cutovers/${ID}`)]);
    stub.cutovers.set(ID, baking);
    assert.deepEqual(await cli(["abort", ID, "--no-wait"], env), { code: 0, stdout: `cutover ${ID}: abort requested (state: baking)\n`, stderr: "" });
  });

  test("abort exits 1 naming the stragglers, and on a deadline says how to follow", async () => {
    const restore = { index: 0, weight: 0, revision: 9, writtenAt: "2026-11-24T18:00:09.000Z", acks: [ack("edge-1")], stragglers: ["edge-2"] };
    stub.cutovers.set(ID, snapshot({ ...base, state: "baking" }));
    stub.gets.set(ID, [snapshot({ ...base, state: "aborted", reason: "aborted by an operator; original upstream restored", restore })]);
    const r = await cli(["abort", ID, "--json"], env, { pollMs: 5 });
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout).restore.stragglers, ["edge-2"]);
    stub.cutovers.set(ID, snapshot({ ...base, state: "baking" }));
    const late = await cli(["abort", ID, "--timeout", "50ms"], env, { pollMs: 5 });
    assert.equal(late.code, 1);
    assert.match(late.stderr, new RegExp(`^error: abort requested, but cutover ${ID} has not settled within 50ms \\(state: baking\\); follow it: switchyard cutover-status ${ID} --watch\n$`));
  });

  test("promote waits for the 100% step's acks; 404 and 409 print the API message", async () => {
    const baking = snapshot({ ...base, state: "baking", step: { index: 1, total: 2, weight: 10 } });
    const s1 = { index: 1, weight: 10, revision: 7, writtenAt: "2026-11-24T18:00:01.000Z", acks: [ack("edge-1")], stragglers: [] };
    const s2 = { index: 2, weight: 100, revision: 8, writtenAt: "2026-11-24T18:00:05.000Z", acks: [], stragglers: [] };
    stub.cutovers.set(ID, baking);
    stub.gets.set(ID, [{ ...baking, steps: [s1, s2] }, { ...baking, state: "succeeded", reason: "promoted", steps: [s1, { ...s2, acks: [ack("edge-1")] }] }]);
    const r = await cli(["promote", ID], env, { pollMs: 5 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /succeeded: promoted\nstep 2 \(100%\) at revision 8, acked by 1\/1 agents\n$/);
    stub.cutovers.set(ID, snapshot({ ...base, state: "aborted" }));
    assert.deepEqual(await cli(["abort", ID], env), { code: 1, stdout: "", stderr: `error: cutover ${ID} already aborted\n` });
    assert.deepEqual(await cli(["promote", "co-nope"], env), { code: 1, stdout: "", stderr: "error: cutover 'co-nope' does not exist\n" });
  });

  test("the token is sent as a bearer header; a wrong one gets the API's 401 message", async () => {
    await cli(["cutovers"], env);
    assert.equal(stub.requests[0]?.auth, `Bearer ${env.SWITCHYARD_TOKEN}`);
    const r = await cli(["cutovers", "--token", "wrong-token-0123456789"], env);
    assert.deepEqual(r, { code: 1, stdout: "", stderr: "error: unknown token\n" });
  });
});
