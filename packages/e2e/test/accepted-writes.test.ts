import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { AGENT_NODE_FLAGS, RedisLink, SyncEngine, commandConnection as agentCommand, subscriberConnection } from "@switchyard/agent";
import {
  AckWatcher, ApplyTimer, ControllerMetrics, CutoverRepo, EventHub, MeteredWriter, ackSubscriberConnection, commandConnection, createApp, createCutoverQueue,
  eventsSubscriberConnection, queueConnection,
} from "@switchyard/controller";
import { EMPTY_STATE, StoreHistory, StoreReader, buildKeys, urlTarget, type State } from "@switchyard/shared";
import { freePort, randomPrefix, seededRandom, startRedis, testSeed, waitFor, type RedisHandle } from "@switchyard/testkit";
import { spawnNode, type Proc } from "../src/index.js";
import { comparable, emptyModel, randomWrite, type Model } from "./write-gen.js";

/**
 * The property: any write the API accepts is applied by an agent. Random sequences of writes
 * (pools, routes, the default, the seed's switch; Object.prototype names, `__proto__`, wildcards,
 * splits, rules) go through the real controller app on a real Redis. After every accepted write:
 * - GET /v1/state equals the model built from the accepted writes alone (a refused write changed
 *   nothing, an accepted one is visible);
 * - an agent-side SyncEngine, fed by the change channel, reached that revision without an error
 *   and holds exactly that state.
 * A real agent process follows the same writes and ends at the same revision, with no error,
 * no lastError, and as many routes and pools. Bounded by count and time; the seed is printed on
 * failure and `TEST_SEED=<seed>` replays it.
 */

const WRITES = 160;
const MAX_MS = 45_000;
const TOKEN = "property-write-token-0123456789";

let redis: RedisHandle;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

test("every write the API accepts is applied by an agent, which ends with the table GET /v1/state shows", async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay with TEST_SEED=${seed})`);
  const r = seededRandom(seed);
  const prefix = randomPrefix("prop");
  const keys = buildKeys(prefix);
  const log = pino({ level: "silent" });

  // The controller app, wired as main.ts wires it (no cutover worker: no cutovers here).
  const settings = { target: urlTarget(redis.url), commandTimeoutMs: 2500 };
  const cmd = commandConnection(settings, log);
  const ackSub = ackSubscriberConnection(settings, log);
  const queueConn = queueConnection(settings, log);
  const queue = createCutoverQueue(queueConn, { keys, lockMs: 10_000 });
  const reader = new StoreReader(cmd, keys);
  const repo = new CutoverRepo(cmd, keys);
  const metrics = new ControllerMetrics({ reader, redis: cmd, keys, repo, log });
  const acks = new AckWatcher(ackSub, cmd, keys, log, new ApplyTimer((s) => metrics.applySeconds.observe(s)));
  const eventsSub = eventsSubscriberConnection(settings, log);
  const events = new EventHub(eventsSub, cmd, keys, repo, log);
  const app = createApp({
    redis: cmd, keys, acks, repo, queue, reader, writer: new MeteredWriter(cmd, keys, 1000, 10_000, metrics), history: new StoreHistory(cmd, keys, reader), metrics, events,
    tokens: [{ name: "prop", scope: "write", secret: TOKEN }], log,
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // The agent side in process: the agent's own link and SyncEngine, errors collected from its log.
  const errors: string[] = [];
  const engineLog = pino({ level: "warn" }, { write: (line: string) => void ((JSON.parse(line) as { level: number }).level >= 50 && errors.push(line)) });
  const target = urlTarget(redis.url);
  const link = new RedisLink({ command: agentCommand(target, engineLog), subscriber: subscriberConnection(target, engineLog), channel: keys.changes, pingIntervalMs: 1000, pingTimeoutMs: 1000 }, engineLog);
  let installed: { revision: number; state: State } = { revision: 0, state: EMPTY_STATE };
  const engine = new SyncEngine({
    link, reader: new StoreReader(link.cmd, keys), log: engineLog, retryMs: 1000,
    install: (revision, state) => void (installed = { revision, state }), onApplied: () => undefined,
  });
  engine.start();
  await link.start();

  // A real agent process from dist, on the same prefix.
  const [port, adminPort] = [await freePort(), await freePort()];
  const agent: Proc = spawnNode("agent", [...AGENT_NODE_FLAGS, "packages/agent/dist/main.js"], {
    REDIS_URL: redis.url, SWITCHYARD_PREFIX: prefix, AGENT_ID: "prop-agent", AGENT_HOST: "127.0.0.1",
    AGENT_PORT: String(port), AGENT_ADMIN_PORT: String(adminPort), LOG_LEVEL: "warn",
  });
  const agentStatus = async () => (await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as { revision: number; lastError: string | null; routes: number; pools: number };

  const model: Model = emptyModel();
  const history: string[] = [];
  let revision = 0;
  let accepted = 0;
  const started = Date.now();
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${adminPort}/healthz`)).ok, { what: "the agent process", timeoutMs: 20_000 });
    for (let i = 0; i < WRITES && Date.now() - started < MAX_MS; ) {
      // Mostly one write at a time; now and then a burst of three in flight together, which the
      // agent sees as a run of changes. Accepted writes apply to the model in revision order.
      const burst = Array.from({ length: r.chance(0.15) ? 3 : 1 }, () => randomWrite(r));
      i += burst.length;
      const answers = await Promise.all(burst.map(async (w) => {
        const res = await fetch(`${base}${w.path}`, {
          method: w.method,
          headers: { authorization: `Bearer ${TOKEN}`, ...(w.body === undefined ? {} : { "content-type": "application/json" }) },
          ...(w.body === undefined ? {} : { body: JSON.stringify(w.body) }),
        });
        const text = await res.text();
        history.push(`${w.method} ${w.path} ${w.body === undefined ? "" : JSON.stringify(w.body)} -> ${res.status} ${text.slice(0, 120).trim()}`);
        assert.ok([200, 400, 404, 409].includes(res.status), `unexpected ${res.status}: ${text}`);
        assert.ok(res.status !== 200 || res.headers.get("etag") !== null, "an accepted write names its revision");
        return { w, rev: res.status === 200 ? Number(res.headers.get("etag")?.replaceAll('"', "")) : 0 };
      }));
      for (const { w, rev } of answers.filter((a) => a.rev > 0).sort((a, b) => a.rev - b.rev)) {
        w.apply(model);
        revision = Math.max(revision, rev);
        accepted++;
      }
      const state = await (await fetch(`${base}/v1/state`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as State & { revision: number };
      assert.equal(state.revision, revision, "every accepted write is one revision");
      assert.deepEqual(comparable(state), comparable(model), "GET /v1/state equals the accepted writes");
      await waitFor(() => installed.revision >= revision || errors.length > 0, { what: `the sync engine at revision ${revision}`, timeoutMs: 10_000, intervalMs: 2 });
      assert.deepEqual(errors, [], "the sync engine applied every accepted revision without an error");
      assert.equal(installed.revision, revision);
      assert.deepEqual(comparable(installed.state), comparable(model), "the agent-side state equals GET /v1/state");
    }
    assert.ok(accepted >= 20, `only ${accepted} writes were accepted; the generator should produce more valid ones`);

    const final = await waitFor(async () => {
      const s = await agentStatus();
      return s.revision >= revision || s.lastError !== null ? s : undefined;
    }, { what: `the agent process at revision ${revision}`, timeoutMs: 20_000 });
    assert.deepEqual(final, { ...final, revision, lastError: null, routes: model.routes.size, pools: model.pools.size });
    const agentErrors = agent.output().split("\n").filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(agentErrors, [], "the agent process logged no error");
    t.diagnostic(`${accepted} of ${history.length} writes accepted, final revision ${revision}, ${Date.now() - started} ms`);
  } catch (err) {
    const tail = history.slice(-8).map((h) => `  ${h}`).join("\n");
    throw new Error(`seed ${seed} (replay with TEST_SEED=${seed}): ${(err as Error).message}\nlast writes:\n${tail}`, { cause: err });
  } finally {
    await agent.stop();
    server.closeAllConnections();
    server.close();
    acks.close();
    events.close();
    await queue.close().catch(() => undefined);
    engine.stop();
    await link.close();
    for (const c of [cmd, ackSub, queueConn, eventsSub]) c.disconnect();
  }
});
