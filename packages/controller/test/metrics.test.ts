import assert from "node:assert/strict";
import { describe, test } from "node:test";
import request from "supertest";
import { waitFor } from "@switchyard/testkit";
import { ApplyTimer } from "../src/fleet/apply-timer.js";
import { READ, auth, fixturePerTest, type Fixture } from "./fixture.js";
import { fakeAgent, heartbeat } from "./fleet-helpers.js";

/** GET /metrics: the contract names, read-token access, bounded labels, and values that move. */

let fx: Fixture;
const { server } = fixturePerTest(async (f) => void (fx = f));

async function scrape(): Promise<string> {
  const res = await request(fx.app).get("/metrics").set(auth(READ)).expect(200);
  assert.match(res.headers["content-type"] ?? "", /^text\/plain; version=0\.0\.4/);
  return res.text;
}

/** The value of one series, such as `switchyard_controller_writes_total{result="committed"}`; undefined when absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("controller metrics", () => {
  test("need a token (read is enough) and expose every contract name plus the process metrics", async () => {
    await request(fx.app).get("/metrics").expect(401);
    const text = await scrape();
    for (const name of ["switchyard_controller_writes_total", "switchyard_controller_revision", "switchyard_controller_agents", "switchyard_controller_apply_seconds", "switchyard_cutovers", "process_cpu_user_seconds_total", "nodejs_eventloop_lag_seconds"]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
    }
    assert.match(text, /^# TYPE switchyard_controller_apply_seconds histogram$/m);
    // Bounded cardinality: the only labels are the write result and the cutover state (and le).
    const labels = new Set([...text.matchAll(/^switchyard_\w+\{([^}]*)\}/gm)].flatMap((m) => (m[1] as string).split(",").map((kv) => kv.split("=")[0])));
    assert.deepEqual([...labels].sort(), ["le", "result", "state"]);
  });

  test("writes by result, the revision, live agents and cutovers by state follow what happens", async () => {
    const start = await scrape();
    assert.equal(value(start, 'switchyard_controller_writes_total{result="committed"}'), 0);
    assert.equal(value(start, "switchyard_controller_revision"), 0);
    assert.equal(value(start, "switchyard_controller_agents"), 0);
    assert.equal(value(start, 'switchyard_cutovers{state="scheduled"}'), 0);

    const pool = { targets: [{ address: "127.0.0.1:1" }] };
    await request(fx.app).put("/v1/pools/blue").set(auth()).send(pool).expect(200);
    await request(fx.app).put("/v1/pools/green").set(auth()).send(pool).expect(200);
    await request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "nope" }).expect(400);
    await request(fx.app).put("/v1/routes/a.com?dryRun=true").set(auth()).send({ upstream: "blue" }).expect(200);
    await request(fx.app).put("/v1/routes/a.com").set(auth()).send({ upstream: "blue" }).expect(200);
    const current = (await request(fx.app).get("/v1/state").set(auth(READ)).expect(200)).body;
    await request(fx.app).put("/v1/state").set(auth()).send({ defaultUpstream: current.defaultUpstream, pools: current.pools, routes: current.routes }).expect(200);
    await heartbeat(fx.redis, fx.keys, "edge-1", 3);
    const at = new Date(Date.now() + 3_600_000).toISOString();
    await request(fx.app).post("/v1/cutovers").set(auth()).send({ host: "a.com", to: "green", at }).expect(202);

    const text = await scrape();
    assert.equal(value(text, 'switchyard_controller_writes_total{result="committed"}'), 3);
    assert.equal(value(text, 'switchyard_controller_writes_total{result="refused"}'), 1);
    assert.equal(value(text, 'switchyard_controller_writes_total{result="dry_run"}'), 1);
    assert.equal(value(text, 'switchyard_controller_writes_total{result="noop"}'), 1);
    assert.equal(value(text, "switchyard_controller_revision"), 3);
    assert.equal(value(text, "switchyard_controller_agents"), 1);
    assert.equal(value(text, 'switchyard_cutovers{state="scheduled"}'), 1);
  });

  test("apply seconds: one observation per agent per revision, from publication to that agent's ack", async () => {
    const agents = await Promise.all(["edge-1", "edge-2"].map((id) => fakeAgent(server().url, fx.keys, id, 5)));
    try {
      // The controller subscribes to changes on start: give its subscription a moment by waiting for its first observation.
      for (let i = 1; i <= 3; i++) {
        await request(fx.app).put(`/v1/pools/p${i}?wait=applied&timeout=5000`).set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
      }
      await waitFor(async () => (value(await scrape(), "switchyard_controller_apply_seconds_count") ?? 0) >= 6, { what: "6 observations (2 agents x 3 revisions)", timeoutMs: 10_000 });
      const text = await scrape();
      assert.equal(value(text, "switchyard_controller_apply_seconds_count"), 6);
      const sum = value(text, "switchyard_controller_apply_seconds_sum") as number;
      assert.ok(sum > 0 && sum < 6 * 5, `sum ${sum}`);
    } finally {
      for (const a of agents) a.disconnect();
    }
  });
});

describe("ApplyTimer", () => {
  test("an ack covers every revision up to it not yet acked by that agent; the first ack only its own; old acks nothing", () => {
    let t = 0;
    const seen: number[] = [];
    const timer = new ApplyTimer((s) => seen.push(s), () => t);
    for (const rev of [1, 2, 3, 4]) {
      timer.changed(rev);
      t += 1000;
    }
    timer.acked("a", 2); // first ack: revision 2 only (published at 1 s; now 4 s)
    assert.deepEqual(seen, [3]);
    timer.acked("a", 4); // covers 3 and 4
    assert.deepEqual(seen, [3, 2, 1]);
    timer.acked("a", 3); // older than what it acked: nothing
    timer.acked("a", 9); // never published here: nothing to time
    assert.deepEqual(seen, [3, 2, 1]);
  });
});
