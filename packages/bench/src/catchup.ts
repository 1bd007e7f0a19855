import { Slicer, StoreReader, StoreWriter, buildKeys, type State } from "@switchyard/shared";
import { SyncEngine } from "@switchyard/agent";
import { randomPrefix } from "@switchyard/testkit";
import { compileTableCooperative } from "../../agent/src/serve/table.js";
import { QUICK, ROUNDS, ratioOf, summarize, type Summary } from "./measure.js";
import { bigState, connect, hostName, quiet, writeState } from "./state.js";

/**
 * Section 5: an agent that missed 1 000 changes. The SyncEngine (the agent's sync core) is driven
 * directly: it never hears the writes, then resync() is timed until it reports the new revision.
 * Log and snapshot paths alternate within every round.
 */

const MISSED = QUICK ? 200 : 1000;

export interface CatchupRow {
  label: string;
  rounds: number;
  log: Summary;
  snapshot: Summary;
  ratio: Summary;
}

export interface CatchupReport {
  missed: number;
  rows: CatchupRow[];
}

async function oneSize(redisUrl: string, hosts: number, pools: number, rounds: number): Promise<CatchupRow> {
  const redis = connect(redisUrl);
  const keys = buildKeys(randomPrefix("bench-catch"));
  try {
    const state = bigState(hosts, pools, "127.0.0.1:9");
    await writeState(redis, keys, state);
    const writer = new StoreWriter(redis, keys, 2000);
    const engine = new SyncEngine({
      // Never started, so no link is listened to: resync() is driven by hand below.
      link: { connected: true, problem: null, on: () => undefined, off: () => undefined },
      retryMs: 2000,
      checkMs: 60_000,
      reader: new StoreReader(redis, keys),
      log: quiet,
      // As the agent installs: the table is compiled in slices, then swapped.
      install: async (revision: number, s: State) => void (await compileTableCooperative(s, revision, new Slicer(2))),
      onApplied: () => undefined,
    });
    engine.resync();
    await engine.idle();
    const log: number[] = [];
    const snap: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const path of ["log", "snapshot"] as const) {
        const from = engine.status().revision;
        // 1 000 separate revisions, pipelined on one connection (so in order), none heard by the engine.
        const writes = Array.from({ length: MISSED }, (_, k) =>
          writer.write([{ op: "route.put", host: hostName(k % hosts), route: { upstream: `p${(k + r + 1) % pools}` } }], { actor: "bench" }),
        );
        const last = (await Promise.all(writes)).at(-1)?.revision ?? 0;
        if (last !== from + MISSED) throw new Error(`expected revision ${from + MISSED}, got ${last}`);
        // Without log entries the catch-up finds a gap it cannot fill and loads a snapshot.
        if (path === "snapshot") await redis.xtrim(keys.log, "MAXLEN", 0);
        const t0 = performance.now();
        engine.resync();
        await engine.idle();
        const ms = performance.now() - t0;
        const s = engine.status();
        if (s.revision !== last) throw new Error(`${path} catch-up ended at ${s.revision}, not ${last}: ${s.lastError}`);
        (path === "log" ? log : snap).push(ms);
      }
    }
    return { label: `${hosts.toLocaleString("en-US")} routes / ${pools.toLocaleString("en-US")} pools`, rounds, log: summarize(log), snapshot: summarize(snap), ratio: ratioOf(log, snap) };
  } finally {
    redis.disconnect();
  }
}

export async function catchup(redisUrl: string, opts: { large: boolean }): Promise<CatchupReport> {
  const rows = [await oneSize(redisUrl, 1000, 100, ROUNDS)];
  // With 10k routes every logged change recompiles the whole table (seconds per round): it runs
  // only while the time budget allows, and with fewer rounds in a quick run.
  if (opts.large) rows.push(await oneSize(redisUrl, 10_000, 1000, QUICK ? 1 : ROUNDS));
  return { missed: MISSED, rows };
}
