import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ChangeMessage, PROTOCOL_VERSION, Slicer, applyOps, type State } from "@switchyard/shared";
import { TableHolder } from "../../agent/src/serve/holder.js";
import { compileTable } from "../../agent/src/serve/table.js";
import { QUICK, ROUNDS, pct, summarize, type Summary } from "./measure.js";
import { bigState, hostName, quiet } from "./state.js";

/**
 * Section 6 (issue 16): what one change costs an agent on a 10k-route table. Each change is the
 * agent's whole apply step, in this process as sync.ts runs it: the message parsed and validated
 * (ChangeMessage), applied to the state (shared/apply.ts), and installed (serve/holder.ts: patched
 * into the serving table, or compiled in full). CPU is process.cpuUsage around each change
 * (user + system, this process), so GC work a change causes counts; one full GC after the warm-up
 * keeps the initial 10k-route load's GC debt off the changes. Beside it, for scale, the
 * full compile every change cost before (compileTable of the same state).
 */

const HOSTS = 10_000;
const POOLS = 1_000;
const CHANGES = QUICK ? 100 : 200;
const WARMUP = 50;

export interface IncrementalReport {
  hosts: number;
  changes: number;
  /** Per round: p99 and p50 CPU ms per one-route change. */
  p99: Summary;
  p50: Summary;
  /** Worst change of every round, ms CPU. */
  max: Summary;
  /** A full compile of the same table, ms CPU (what each change cost before issue 16). */
  fullCompile: Summary;
}

// A full GC after the load and the warm-up: the changes are measured, not the reload's GC debt
// (process.cpuUsage also counts V8's helper threads, which would still be marking the 10k table).
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function round(seed: number): Promise<{ cpu: number[]; state: State }> {
  let state: State = bigState(HOSTS, POOLS, "127.0.0.1:9");
  const holder = new TableHolder({ retain() {} }, new Slicer(0.5), quiet);
  // The first install is the full, sliced compile a snapshot gets; every change after it is measured.
  await holder.install(1, state);
  const cpu: number[] = [];
  for (let i = 0; i < WARMUP + CHANGES; i++) {
    const raw = JSON.stringify({ v: PROTOCOL_VERSION, epoch: "0123456789ab-01234567", rev: i + 2, at: Date.now(), actor: "bench", ops: [{ op: "route.put", host: hostName((seed + i * 7919) % HOSTS), route: { upstream: `p${(seed + i) % POOLS}` } }] });
    if (i === WARMUP) gc();
    const c0 = process.cpuUsage();
    const msg = ChangeMessage.parse(JSON.parse(raw));
    state = applyOps(state, msg.ops);
    await holder.install(msg.rev, state);
    const c = process.cpuUsage(c0);
    if (i >= WARMUP) cpu.push((c.user + c.system) / 1000); // the first ones warm the JIT up
  }
  return { cpu, state };
}

export async function incremental(): Promise<IncrementalReport> {
  const p99: number[] = [];
  const p50: number[] = [];
  const max: number[] = [];
  const full: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const { cpu, state } = await round(r * 101);
    p99.push(pct(cpu, 99));
    p50.push(pct(cpu, 50));
    max.push(Math.max(...cpu));
    const c0 = process.cpuUsage();
    compileTable(state, 1);
    const c = process.cpuUsage(c0);
    full.push((c.user + c.system) / 1000);
  }
  return { hosts: HOSTS, changes: CHANGES, p99: summarize(p99), p50: summarize(p50), max: summarize(max), fullCompile: summarize(full) };
}
