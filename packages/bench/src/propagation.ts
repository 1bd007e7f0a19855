import { StoreWriter, buildKeys, type Keys } from "@switchyard/shared";
import { randomPrefix, waitFor } from "@switchyard/testkit";
import { spawnNode, type Proc } from "../../e2e/src/index.js";
import { QUICK, ROUNDS, pct, sleep, summarize, type Summary } from "./measure.js";
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

interface Fleet {
  n: number;
  keys: Keys;
  procs: Proc[];
  writer: StoreWriter;
  revision: number;
  /** The write being waited for: acks counted, first and last appliedAt, completion. */
  pending?: { revision: number; agents: Set<string>; minAt: number; maxAt: number; lastArrival: number; done: () => void };
  lat: number[][];
  skew: number[][];
  incomplete: number;
}

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

export interface PropagationReport {
  rounds: number;
  layout: string;
  rows: PropagationRow[];
}

export async function propagation(redisUrl: string): Promise<PropagationReport> {
  const redis = connect(redisUrl);
  const sub = connect(redisUrl);
  const fleets: Fleet[] = [];
  try {
    const byChannel = new Map<string, Fleet>();
    sub.on("message", (channel: string, raw: string) => {
      const arrival = performance.now();
      const f = byChannel.get(channel);
      const p = f?.pending;
      if (!f || !p) return;
      const m = JSON.parse(raw) as { agent: string; revision: number; appliedAt: number };
      if (m.revision !== p.revision || p.agents.has(m.agent)) return;
      p.agents.add(m.agent);
      p.minAt = Math.min(p.minAt, m.appliedAt);
      p.maxAt = Math.max(p.maxAt, m.appliedAt);
      p.lastArrival = arrival;
      if (p.agents.size === f.n) p.done();
    });

    const route = (upstream: string) => ({ op: "route.put" as const, host: "bench.local", route: { upstream } });
    /** One write; resolves with (write → last ack ms, skew ms), or undefined when acks are missing. */
    const write = async (f: Fleet, k: number): Promise<[number, number] | undefined> => {
      let done: () => void = () => undefined;
      const complete = new Promise<void>((r) => (done = r));
      f.pending = { revision: f.revision + 1, agents: new Set(), minAt: Infinity, maxAt: -Infinity, lastArrival: 0, done };
      const t0 = performance.now();
      const res = await f.writer.write([route(k % 2 === 0 ? "green" : "blue")], { actor: "bench", expectedRevision: f.revision });
      f.revision = res.revision;
      const ok = await Promise.race([complete.then(() => true), sleep(ACK_TIMEOUT_MS).then(() => false)]);
      const p = f.pending;
      f.pending = undefined;
      return ok ? [p.lastArrival - t0, p.maxAt - p.minAt] : undefined;
    };

    for (const n of SIZES) {
      const prefix = randomPrefix(`bench-prop${n}`);
      const keys = buildKeys(prefix);
      const revision = await writeState(redis, keys, {
        defaultUpstream: null,
        pools: { blue: { targets: [{ address: "127.0.0.1:9", weight: 1 }] }, green: { targets: [{ address: "127.0.0.1:10", weight: 1 }] } },
        routes: { "bench.local": { upstream: "blue" } },
      });
      // Two processes from N=100 on, so both cores carry agents.
      const split = n >= 100 ? 2 : 1;
      const procs = Array.from({ length: split }, (_, i) =>
        spawnNode(`agents-${n}-${i}`, ["--import", "tsx", "--conditions", "switchyard-source", "packages/bench/src/propagation-child.ts"], {
          REDIS_URL: redisUrl, PREFIX: prefix, COUNT: String(n / split), ID_BASE: `n${n}-p${i}`,
        }),
      );
      const f: Fleet = { n, keys, procs, writer: new StoreWriter(redis, keys, 1000), revision, lat: [], skew: [], incomplete: 0 };
      fleets.push(f);
      byChannel.set(keys.acks, f);
      await sub.subscribe(keys.acks);
      await waitFor(() => f.procs.every((p) => {
        if (p.child.exitCode !== null) throw new Error(`${p.name} exited: ${p.output().slice(-2000)}`);
        return p.output().includes('"ready"');
      }), { timeoutMs: 60_000, intervalMs: 50, what: `${f.n} agents started` });
      // Warm-up writes: every agent has to ack before anything is measured.
      let warm: [number, number] | undefined;
      for (let i = 0; i < 5 && !warm; i++) warm = await write(f, 0);
      if (!warm) throw new Error(`not all ${f.n} agents acked a warm-up write`);
      for (let i = 1; i <= 5; i++) await write(f, i);

      for (let round = 0; round < ROUNDS; round++) {
        const lat: number[] = [];
        const skew: number[] = [];
        for (let k = 0; k < PER_ROUND; k++) {
          const r = await write(f, k);
          if (r) {
            lat.push(r[0]);
            skew.push(r[1]);
          } else f.incomplete++;
          // A short, uneven pause, so writes do not lock into phase with the 1 s heartbeats.
          await sleep(2 + Math.random() * 8);
        }
        f.lat.push(lat);
        f.skew.push(skew);
      }
      await sub.unsubscribe(keys.acks);
      await Promise.all(f.procs.map((p) => p.stop("SIGTERM", 5000)));
    }

    const rows = fleets.map((f): PropagationRow => {
      const all = f.lat.flat();
      const allSkew = f.skew.flat();
      return {
        n: f.n,
        procs: f.procs.length,
        writes: all.length + f.incomplete,
        p50: summarize(f.lat.map((l) => pct(l, 50))),
        p99: summarize(f.lat.map((l) => pct(l, 99))),
        max: summarize(f.lat.map((l) => Math.max(...l))),
        skewP50: summarize(f.skew.map((l) => pct(l, 50))),
        skewP99: summarize(f.skew.map((l) => pct(l, 99))),
        pooled: { p50: pct(all, 50), p99: pct(all, 99), max: Math.max(...all), skewP99: pct(allSkew, 99) },
        incomplete: f.incomplete,
      };
    });
    return {
      rounds: ROUNDS,
      layout: `${SIZES.filter((n) => n < 100).join(" and ")} agents in one child process, ${SIZES.filter((n) => n >= 100).join(" and ")} split over 2 child processes; one fleet at a time (every agent heartbeats and PINGs both its connections every second while it runs)`,
      rows,
    };
  } finally {
    redis.disconnect();
    sub.disconnect();
    await Promise.all(fleets.flatMap((f) => f.procs.map((p) => p.stop("SIGTERM", 5000))));
  }
}
