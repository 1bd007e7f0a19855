import type { Redis } from "ioredis";
import { StoreWriter, buildKeys } from "@switchyard/shared";
import { randomPrefix } from "@switchyard/testkit";
import type { Proc } from "../../e2e/src/index.js";
import { AckClock, startFleet, stopFleet, timedRounds, type Timed } from "./fleet.js";
import { QUICK, ROUNDS, pct, summarize, type Summary } from "./measure.js";
import { connect, writeState } from "./state.js";

/**
 * Section 3: write → last ack and flip skew for fleets of N = 1, 10, 100, 1000 agents. One fleet
 * runs at a time, each under its own prefix: a fleet of N is measured with N agents on the
 * machine, not N plus the other 1 111 - N heartbeating and PINGing beside it (in production they
 * would be on machines of their own). Each fleet does ROUNDS rounds of W writes.
 */

const SIZES = [1, 10, 100, 1000];
const PER_ROUND = QUICK ? 10 : 34; // × 3 rounds = 102 writes per N
const ACK_TIMEOUT_MS = 5000;
/** The fleet sizes also measured as raw pub/sub subscribers (issue 16's "propagation ÷ raw Redis pub/sub"). */
const RAW_SIZES = [100, 1000];

export interface PropagationRow {
  n: number;
  procs: number;
  writes: number;
  p50: Summary;
  p99: Summary;
  max: Summary;
  skewP50: Summary;
  skewP99: Summary;
  pooled: { p50: number; p99: number; max: number; skewP99: number };
  incomplete: number;
}

/** The same N as raw ioredis subscribers that answer each PUBLISH with one PUBLISH of their own. */
export interface RawRow {
  n: number;
  procs: number;
  writes: number;
  p50: number;
  p99: number;
  perRoundP99: Summary;
  incomplete: number;
}

export interface PropagationReport {
  rounds: number;
  layout: string;
  rows: PropagationRow[];
  raw: RawRow[];
}

export async function propagation(redisUrl: string): Promise<PropagationReport> {
  const redis = connect(redisUrl);
  const sub = connect(redisUrl);
  const clock = new AckClock(sub);
  const rows: PropagationRow[] = [];
  const raw: RawRow[] = [];
  let procs: Proc[] = [];
  try {
    for (const n of SIZES) {
      const prefix = randomPrefix(`bench-prop${n}`);
      const keys = buildKeys(prefix);
      let revision = await writeState(redis, keys, {
        defaultUpstream: null,
        pools: { blue: { targets: [{ address: "127.0.0.1:9", weight: 1 }] }, green: { targets: [{ address: "127.0.0.1:10", weight: 1 }] } },
        routes: { "bench.local": { upstream: "blue" } },
      });
      // Two processes from N=100 on, so both cores carry agents.
      const split = n >= 100 ? 2 : 1;
      await sub.subscribe(keys.acks);
      procs = await startFleet(`n${n}`, "propagation-child.ts", n, split, () => ({ REDIS_URL: redisUrl, PREFIX: prefix }));
      const writer = new StoreWriter(redis, keys, 1000);
      const write = (k: number) =>
        clock.time(keys.acks, n, revision + 1, async () => {
          revision = (await writer.write([route(k % 2 === 0 ? "green" : "blue")], { actor: "bench", expectedRevision: revision })).revision;
        }, ACK_TIMEOUT_MS);
      // Warm-up writes: every agent has to ack before anything is measured.
      let warm: Timed | undefined;
      for (let i = 0; i < 5 && !warm; i++) warm = await write(0);
      if (!warm) throw new Error(`not all ${n} agents acked a warm-up write`);
      for (let i = 1; i <= 5; i++) await write(i);
      const m = await timedRounds(ROUNDS, PER_ROUND, write);
      await sub.unsubscribe(keys.acks);
      await stopFleet(procs);
      rows.push(row(n, split, m));
      // The same N as plain subscribers, right after: the floor any pub/sub fan-out starts from.
      if (RAW_SIZES.includes(n)) raw.push(await rawFleet(redis, sub, clock, redisUrl, n, split));
    }
    return {
      rounds: ROUNDS,
      layout: `${SIZES.filter((n) => n < 100).join(" and ")} agents in one child process, ${SIZES.filter((n) => n >= 100).join(" and ")} split over 2 child processes; one fleet at a time (every agent heartbeats and PINGs both its connections every second while it runs)`,
      rows,
      raw,
    };
  } finally {
    redis.disconnect();
    sub.disconnect();
    await stopFleet(procs);
  }
}

const route = (upstream: string) => ({ op: "route.put" as const, host: "bench.local", route: { upstream } });

export function row(n: number, procs: number, m: { lat: number[][]; skew: number[][]; incomplete: number }): PropagationRow {
  const all = m.lat.flat();
  const allSkew = m.skew.flat();
  return {
    n,
    procs,
    writes: all.length + m.incomplete,
    p50: summarize(m.lat.map((l) => pct(l, 50))),
    p99: summarize(m.lat.map((l) => pct(l, 99))),
    max: summarize(m.lat.map((l) => Math.max(...l))),
    skewP50: summarize(m.skew.map((l) => pct(l, 50))),
    skewP99: summarize(m.skew.map((l) => pct(l, 99))),
    pooled: { p50: pct(all, 50), p99: pct(all, 99), max: Math.max(...all), skewP99: pct(allSkew, 99) },
    incomplete: m.incomplete,
  };
}

/** N raw ioredis subscribers (raw-sub-child.ts), timed by the same clock: PUBLISH → N-th answer here. */
async function rawFleet(redis: Redis, sub: Redis, clock: AckClock, redisUrl: string, n: number, split: number): Promise<RawRow> {
  const channel = `${randomPrefix("bench-raw")}:changes`;
  const acks = `${channel}:acks`;
  await sub.subscribe(acks);
  const procs = await startFleet(`raw${n}`, "raw-sub-child.ts", n, split, () => ({ REDIS_URL: redisUrl, CHANNEL: channel, ACKS: acks }));
  try {
    let rev = 0;
    const publish = () => {
      rev++;
      return clock.time(acks, n, rev, () => redis.publish(channel, String(rev)), ACK_TIMEOUT_MS);
    };
    for (let i = 0; i < 5; i++) await publish();
    const m = await timedRounds(ROUNDS, PER_ROUND, publish);
    const all = m.lat.flat();
    return { n, procs: split, writes: all.length + m.incomplete, p50: pct(all, 50), p99: pct(all, 99), perRoundP99: summarize(m.lat.map((l) => pct(l, 99))), incomplete: m.incomplete };
  } finally {
    await sub.unsubscribe(acks);
    await stopFleet(procs);
  }
}
