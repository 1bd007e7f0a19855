import assert from "node:assert/strict";
import { request as httpRequest, type IncomingMessage } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import request from "supertest";
import { PROTOCOL_VERSION } from "@switchyard/shared";
import { startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { planCutover } from "../src/cutover/plan.js";
import { CutoverRequest } from "../src/cutover/spec.js";
import { READ, WRITE, auth, makeFixture, readyRedis, type Fixture } from "./fixture.js";
import { heartbeat } from "./fleet-helpers.js";

interface Stream {
  res: IncomingMessage;
  /** Every event received so far, parsed; comments counted apart. */
  events: { event: string; data: any }[];
  comments: string[];
  close(): void;
}

/** Opens GET /v1/events with a token, parsing frames as they arrive. */
function openStream(server: Server, secret: string): Promise<Stream> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path: "/v1/events", headers: { authorization: `Bearer ${secret}` } }, (res) => {
      const s: Stream = { res, events: [], comments: [], close: () => req.destroy() };
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        let end;
        while ((end = buf.indexOf("\n\n")) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (block.startsWith(":")) s.comments.push(block.slice(1).trim());
          const ev = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (ev && data) s.events.push({ event: ev, data: JSON.parse(data) });
        }
      });
      resolve(s);
    });
    req.on("error", reject);
    req.end();
  });
}

let redis: RedisHandle;
let fx: Fixture;
let server: Server;
const streams: Stream[] = [];
before(async () => {
  redis = await startRedis();
  fx = makeFixture(redis, 1500, { hub: { agentPollMs: 100, heartbeatMs: 200 } });
  await readyRedis(fx.redis);
  server = fx.app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
});
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});
after(async () => {
  server.closeAllConnections();
  server.close();
  await fx.close();
  await redis.stop();
});

async function stream(secret = READ): Promise<Stream> {
  const s = await openStream(server, secret);
  streams.push(s);
  await waitFor(() => s.comments.includes("connected"), { what: "stream attached" });
  // The hub's first agent listing is its baseline; wait until it was taken.
  await waitFor(() => fx.events.size > 0, { what: "hub client" });
  return s;
}

describe("GET /v1/whoami", () => {
  test("answers the token's name and scope, for a read and for a write token", async () => {
    assert.deepEqual((await request(fx.app).get("/v1/whoami").set(auth(READ)).expect(200)).body, { name: "viewer", scope: "read" });
    assert.deepEqual((await request(fx.app).get("/v1/whoami").set(auth(WRITE)).expect(200)).body, { name: "ops", scope: "write" });
  });

  test("refuses a missing token with 401 and an unknown query parameter with 400 unknown_parameter", async () => {
    assert.equal((await request(fx.app).get("/v1/whoami").expect(401)).body.error, "unauthorized");
    assert.equal((await request(fx.app).get("/v1/whoami?token=x").set(auth(READ)).expect(400)).body.error, "unknown_parameter");
  });
});

describe("GET /v1/events", () => {
  test("refuses a missing or unknown token with 401 and an unknown query parameter with 400, before streaming", async () => {
    assert.equal((await request(fx.app).get("/v1/events").expect(401)).body.error, "unauthorized");
    assert.equal((await request(fx.app).get("/v1/events").set(auth("nope-nope-nope-nope-nope")).expect(401)).body.error, "unauthorized");
    const r = await request(fx.app).get("/v1/events?access_token=x").set(auth(READ)).expect(400);
    assert.equal(r.body.error, "unknown_parameter");
    assert.equal(r.body.field, "access_token");
  });

  test("a read token receives a revision event for a write made through the API, with its ops", async () => {
    const s = await stream(READ);
    assert.equal(s.res.headers["content-type"], "text/event-stream");
    await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:9001" }] }).expect(200);
    const ev = await waitFor(() => s.events.find((e) => e.event === "revision"), { what: "revision event" });
    assert.equal(ev.data.revision, 1);
    assert.equal(ev.data.actor, "ops");
    assert.equal(ev.data.ops[0].op, "pool.put");
  });

  test("acks, agent joins and agent leaves reach every client", async () => {
    const [a, b] = [await stream(READ), await stream(WRITE)];
    await heartbeat(fx.redis, fx.keys, "edge-9", 0, 600);
    for (const s of [a, b]) await waitFor(() => s.events.some((e) => e.event === "agent-join" && e.data.id === "edge-9"), { what: "agent-join" });
    await fx.redis.publish(fx.keys.acks, JSON.stringify({ v: PROTOCOL_VERSION, agent: "edge-9", epoch: await fx.redis.get(fx.keys.epoch), revision: 3, appliedAt: Date.now() }));
    for (const s of [a, b]) {
      const ack = await waitFor(() => s.events.find((e) => e.event === "ack"), { what: "ack" });
      assert.deepEqual({ agent: ack.data.agent, revision: ack.data.revision }, { agent: "edge-9", revision: 3 });
    }
    // The record's TTL lapses: the agent is no longer live.
    for (const s of [a, b]) await waitFor(() => s.events.some((e) => e.event === "agent-leave" && e.data.id === "edge-9"), { what: "agent-leave", timeoutMs: 5000 });
  });

  test("a cutover's saves arrive as cutover events with its state and steps", async () => {
    const s = await stream();
    await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:9001" }] }).expect(200);
    await request(fx.app).put("/v1/pools/green").set(auth()).send({ targets: [{ address: "127.0.0.1:9002" }] }).expect(200);
    await request(fx.app).put("/v1/routes/a.test").set(auth()).send({ upstream: "blue" }).expect(200);
    const rec = planCutover(CutoverRequest.parse({ host: "a.test", to: "green", preflight: false }), await fx.reader.snapshot(), "ops", Date.now());
    await fx.repo.create(rec);
    await fx.repo.save({ ...rec, state: "aborted", reason: "test" });
    await waitFor(() => s.events.some((e) => e.event === "cutover" && e.data.state === "aborted"), { what: "terminal cutover event" });
    const first = s.events.find((e) => e.event === "cutover");
    assert.equal(first?.data.id, rec.id);
    assert.deepEqual(first?.data.hosts, ["a.test"]);
    assert.ok(Array.isArray(first?.data.steps));
  });

  test("an idle stream gets keepalive comments", async () => {
    const s = await stream();
    await waitFor(() => s.comments.filter((c) => c === "keepalive").length >= 2, { what: "two keepalives" });
  });

  test("a client that stops reading is dropped once its buffer passes the bound, and the others keep streaming", async () => {
    const slow = await stream();
    const fast = await stream();
    slow.res.pause();
    const big = "x".repeat(32 * 1024);
    // Bounded: at most 64 MiB offered before the bound must have been hit (the kernel buffers a few MiB).
    for (let i = 0; i < 2048 && fx.events.size === 2; i++) {
      fx.events.publish({ event: "revision", data: { filler: big, i } });
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => fx.events.size === 1, { what: "slow client dropped", timeoutMs: 10_000 });
    await request(fx.app).put("/v1/pools/late").set(auth()).send({ targets: [{ address: "127.0.0.1:9009" }] }).expect(200);
    await waitFor(() => fast.events.some((e) => e.event === "revision" && e.data.ops?.[0]?.name === "late"), { what: "fast client still served", timeoutMs: 10_000 });
  });
});
