import assert from "node:assert/strict";
import { after, before, beforeEach } from "node:test";
import type { Express } from "express";
import { Redis } from "ioredis";
import { pino } from "pino";
import { MIN_LOG_CAP, StoreHistory, StoreReader, StoreWriter, buildKeys, urlTarget, type Keys } from "@switchyard/shared";
import { randomPrefix, startRedis, type RedisHandle } from "@switchyard/testkit";
import { createApp } from "../src/app.js";
import type { Token } from "../src/config.js";
import type { Queue } from "bullmq";
import { createCutoverQueue, type CutoverJob } from "../src/cutover/queue.js";
import { CutoverRepo } from "../src/cutover/repo.js";
import { AckWatcher } from "../src/fleet/acks.js";
import { ApplyTimer } from "../src/fleet/apply-timer.js";
import { ControllerMetrics, MeteredWriter } from "../src/metrics.js";
import { ackSubscriberConnection, commandConnection, eventsSubscriberConnection, queueConnection } from "../src/redis.js";
import { EventHub, type HubOptions } from "../src/events/hub.js";

export const WRITE = "write-secret-0123456789abcdef";
export const READ = "read-secret-0123456789abcdef";
export const TOKENS: Token[] = [
  { name: "ops", scope: "write", secret: WRITE },
  { name: "viewer", scope: "read", secret: READ },
];
export const auth = (secret = WRITE) => ({ Authorization: `Bearer ${secret}` });

export interface Fixture {
  app: Express;
  acks: AckWatcher;
  queue: Queue<CutoverJob>;
  repo: CutoverRepo;
  keys: Keys;
  reader: StoreReader;
  writer: StoreWriter;
  history: StoreHistory;
  metrics: ControllerMetrics;
  redis: Redis;
  events: EventHub;
  /** Everything a rejected request must leave untouched. */
  fingerprint(): Promise<unknown>;
  close(): Promise<void>;
}

/** An app on a fresh random prefix, wired exactly like main.ts wires it (no cutover worker: tests run cutovers themselves). */
export function makeFixture(server: RedisHandle, commandTimeoutMs = 1500, hubOptions?: HubOptions): Fixture {
  const log = pino({ level: "silent" });
  const settings = { target: urlTarget(server.url), commandTimeoutMs };
  const redis = commandConnection(settings, log);
  const ackSub = ackSubscriberConnection(settings, log);
  const queueConn = queueConnection(settings, log);
  const keys = buildKeys(randomPrefix());
  const reader = new StoreReader(redis, keys);
  const history = new StoreHistory(redis, keys, reader);
  const repo = new CutoverRepo(redis, keys);
  const metrics = new ControllerMetrics({ reader, redis, keys, repo, log });
  const acks = new AckWatcher(ackSub, redis, keys, log, new ApplyTimer((s) => metrics.applySeconds.observe(s)));
  const queue = createCutoverQueue(queueConn, { keys, lockMs: 10_000 });
  const writer = new MeteredWriter(redis, keys, MIN_LOG_CAP, 10_000, metrics);
  const eventsSub = eventsSubscriberConnection(settings, log);
  const events = new EventHub(eventsSub, redis, keys, repo, log, hubOptions);
  const app = createApp({ redis, keys, acks, repo, queue, reader, writer, history, metrics, events, tokens: TOKENS, log });
  const fingerprint = async () => {
    const [snap, logLen, auditLen] = await Promise.all([reader.snapshot(), redis.xlen(keys.log), redis.xlen(keys.audit)]);
    return { snap, logLen, auditLen };
  };
  const close = async () => {
    acks.close();
    events.close();
    // BullMQ checks the server's version when the queue is made; closing before that check ends
    // leaves it to fail on a closed connection as an unhandled rejection (a test that never used
    // the queue can end that fast).
    await queue.waitUntilReady().catch(() => undefined);
    await queue.close().catch(() => undefined);
    for (const c of [redis, ackSub, queueConn, eventsSub]) c.disconnect();
  };
  return { app, acks, queue, repo, keys, reader, writer, history, metrics, redis, events, fingerprint, close };
}

/** Runs `fn` and asserts that the revision, state, change log and audit log did not move. */
export async function unchanged(fx: Fixture, fn: () => Promise<unknown>): Promise<void> {
  const before = await fx.fingerprint();
  await fn();
  assert.deepEqual(await fx.fingerprint(), before);
}

export function readyRedis(redis: Redis): Promise<void> {
  return redis.status === "ready" ? Promise.resolve() : new Promise((resolve) => redis.once("ready", () => resolve()));
}

/**
 * The usual test file: one private redis-server for the file, a fresh fixture (own prefix) for
 * every test, `seed` run before each. Returns getters for the current fixture and the server.
 */
export function fixturePerTest(seed?: (fx: Fixture) => Promise<void>): { fx: () => Fixture; server: () => RedisHandle } {
  let server: RedisHandle | undefined;
  let current: Fixture | undefined;
  const all: Fixture[] = [];
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    for (const f of all) await f.close();
    await server?.stop();
  });
  beforeEach(async () => {
    current = makeFixture(server as RedisHandle);
    all.push(current);
    await readyRedis(current.redis);
    await seed?.(current);
  });
  return { fx: () => current as Fixture, server: () => server as RedisHandle };
}
