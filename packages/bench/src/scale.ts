import { execFileSync } from "node:child_process";
import { StoreWriter, buildKeys } from "@switchyard/shared";
import { randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import type { Proc } from "../../e2e/src/index.js";
import { AckClock, startFleet, stopFleet, timedRounds } from "./fleet.js";
import { QUICK, cpuMicros, pct, rssMB, sleep } from "./measure.js";
import { row, type PropagationRow } from "./propagation.js";
import { connect, writeState } from "./state.js";

/**
 * Section 7 (issue 16): fan-out past one primary, and a 10,000-agent simulation.
 * - replicas: 1,000 agents split over 2 replicas (subscription and reads on the replica, proofs on
 *   the primary), timed by the same clock as section 3; compared with section 3's 1,000 agents on
 *   the primary, measured minutes earlier in the same run.
 * - sim: 10,000 agents (the agent's push flow: link, sync, proof, each with its own two
 *   connections) over 4 processes on a private redis-server, bounded in time.
 */

const REPLICA_AGENTS = QUICK ? 100 : 1000;
const SIM_AGENTS = Number(process.env.BENCH_SIM_AGENTS ?? (QUICK ? 1000 : 10_000));
const SIM_PROCS = 4;
const SIM_WRITES = QUICK ? 10 : 30;
const ACK_TIMEOUT_MS = 15_000;

export interface SimReport {
  agents: number;
  procs: number;
  writes: number;
  incomplete: number;
  startSeconds: number;
  rssPerAgentKB: number;
  rssTotalMB: number;
  redisIdleCorePct: number;
  redisCpuPerWriteMs: number;
  redisCpuPerWriteNetMs: number;
  p50: number;
  p99: number;
  max: number;
  note?: string;
}

export interface ScaleReport {
  replicas?: PropagationRow;
  replicaAgents: number;
  sim?: SimReport;
  errors: string[];
}

const state = {
  defaultUpstream: null,
  pools: { blue: { targets: [{ address: "127.0.0.1:9", weight: 1 }] }, green: { targets: [{ address: "127.0.0.1:10", weight: 1 }] } },
  routes: { "bench.local": { upstream: "blue" } },
};
const route = (k: number) => ({ op: "route.put" as const, host: "bench.local", route: { upstream: k % 2 === 0 ? "green" : "blue" } });

async function replicaOf(primary: RedisHandle): Promise<RedisHandle> {
  const r = await startRedis();
  const c = connect(r.url);
  try {
    await c.replicaof("127.0.0.1", primary.port);
    await waitFor(async () => /master_link_status:up/.test(await c.info("replication")) && !/master_sync_in_progress:1/.test(await c.info("replication")), { timeoutMs: 20_000, what: "replica in sync" });
  } finally {
    c.disconnect();
  }
  return r;
}

async function replicaFleet(primary: RedisHandle, rounds: number, perRound: number): Promise<PropagationRow> {
  const replicas = await Promise.all([replicaOf(primary), replicaOf(primary)]);
  const redis = connect(primary.url);
  const sub = connect(primary.url);
  const clock = new AckClock(sub);
  let procs: Proc[] = [];
  try {
    const keys = buildKeys(randomPrefix("bench-replicas"));
    let revision = await writeState(redis, keys, state);
    await sub.subscribe(keys.acks);
    procs = await startFleet("rep", "propagation-child.ts", REPLICA_AGENTS, 2, (i) => ({ REDIS_URL: primary.url, READ_URL: (replicas[i] as RedisHandle).url, PREFIX: keys.prefix }));
    const writer = new StoreWriter(redis, keys, 1000);
    const write = (k: number) =>
      clock.time(keys.acks, REPLICA_AGENTS, revision + 1, async () => {
        revision = (await writer.write([route(k)], { actor: "bench", expectedRevision: revision })).revision;
      }, 5000);
    for (let i = 0; i < 10; i++) await write(i);
    return row(REPLICA_AGENTS, 2, await timedRounds(rounds, perRound, write));
  } finally {
    await stopFleet(procs);
    redis.disconnect();
    sub.disconnect();
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

/** Raises the private redis-server's open-file limit (root only) so it can take 2 connections per simulated agent. */
function raiseClients(redisPid: number, clients: number): string | undefined {
  try {
    execFileSync("prlimit", ["--pid", String(redisPid), `--nofile=${clients + 1024}:${clients + 1024}`], { stdio: "ignore" });
    return undefined;
  } catch {
    return `could not raise redis-server's open-file limit to ${clients + 1024} (prlimit needs root)`;
  }
}

async function simulation(): Promise<SimReport> {
  const server = await startRedis();
  const redis = connect(server.url);
  const sub = connect(server.url);
  const clock = new AckClock(sub);
  let procs: Proc[] = [];
  try {
    const wanted = SIM_AGENTS * 2 + 64;
    const limitNote = raiseClients(server.pid, wanted);
    await redis.config("SET", "maxclients", String(wanted)).catch(() => undefined);
    const maxclients = Number(((await redis.config("GET", "maxclients")) as string[])[1]);
    const agents = Math.min(SIM_AGENTS, Math.floor((maxclients - 64) / 2));
    const keys = buildKeys(randomPrefix("bench-sim"));
    let revision = await writeState(redis, keys, state);
    await sub.subscribe(keys.acks);
    const t0 = performance.now();
    procs = await startFleet("sim", "propagation-child.ts", agents, SIM_PROCS, () => ({ REDIS_URL: server.url, PREFIX: keys.prefix }), 240_000);
    const startSeconds = (performance.now() - t0) / 1000;
    const pids = procs.map((p) => p.child.pid ?? -1);
    // Let start-up settle, then the idle cost: heartbeats and PINGs only.
    await sleep(3000);
    const idle0 = cpuMicros([server.pid]);
    const i0 = performance.now();
    await sleep(3000);
    const idleRate = (cpuMicros([server.pid]) - idle0) / (performance.now() - i0); // µs of CPU per ms
    const rss = rssMB(pids);
    const writer = new StoreWriter(redis, keys, 1000);
    const write = (k: number) =>
      clock.time(keys.acks, agents, revision + 1, async () => {
        revision = (await writer.write([route(k)], { actor: "bench", expectedRevision: revision })).revision;
      }, ACK_TIMEOUT_MS);
    await write(0); // warm-up: every agent past its snapshot
    const c0 = cpuMicros([server.pid]);
    const w0 = performance.now();
    const m = await timedRounds(1, SIM_WRITES, write);
    const cpu = cpuMicros([server.pid]) - c0;
    const window = performance.now() - w0;
    const lat = m.lat.flat();
    return {
      agents,
      procs: SIM_PROCS,
      writes: SIM_WRITES,
      incomplete: m.incomplete,
      startSeconds,
      rssPerAgentKB: (rss * 1024) / agents,
      rssTotalMB: rss,
      redisIdleCorePct: idleRate / 10, // µs per ms → % of one core
      redisCpuPerWriteMs: cpu / SIM_WRITES / 1000,
      redisCpuPerWriteNetMs: Math.max(0, cpu - idleRate * window) / SIM_WRITES / 1000,
      p50: lat.length ? pct(lat, 50) : NaN,
      p99: lat.length ? pct(lat, 99) : NaN,
      max: lat.length ? Math.max(...lat) : NaN,
      ...(agents < SIM_AGENTS ? { note: `${agents} agents, not ${SIM_AGENTS}: ${limitNote ?? `maxclients ${maxclients}`}` } : {}),
    };
  } finally {
    await stopFleet(procs);
    redis.disconnect();
    sub.disconnect();
    await server.stop();
  }
}

export async function scale(primary: RedisHandle, opts: { rounds: number; perRound: number; sim: boolean }): Promise<ScaleReport> {
  const out: ScaleReport = { replicaAgents: REPLICA_AGENTS, errors: [] };
  try {
    out.replicas = await replicaFleet(primary, opts.rounds, opts.perRound);
  } catch (err) {
    out.errors.push(`replicas: ${(err as Error).message}`);
  }
  if (opts.sim) {
    try {
      out.sim = await simulation();
    } catch (err) {
      out.errors.push(`10,000-agent simulation: ${(err as Error).message}`);
    }
  }
  return out;
}

