import { saturate } from "./load.js";
import { QUICK, summarize, type Summary } from "./measure.js";

/**
 * Connection reuse: how many new upstream connections a proxy opens per 10,000 requests under a
 * steady load of 50 and of 500 concurrent requests, counted at the upstream (nginx's stub_status
 * `accepts`, or the Node upstream's own count). Each run is preceded by a warm-up at the same
 * concurrency, so the figure is the steady state, not the pool filling up. Issue 11: at default
 * settings a steady load must reuse its connections (an agent once opened 12,000–19,000 per 8 s).
 */

export const REUSE_CONCURRENCY = [50, 500] as const;
const WARM_S = 1;
const RUN_S = 2;
const REUSE_ROUNDS = QUICK ? 1 : 2;

export interface ReuseSubject {
  /** Row label, e.g. "agent, direct-address route (defaults)". */
  name: string;
  port: number;
  host: string;
}

export interface ReuseRow {
  name: string;
  /** New upstream connections per 10k requests, by concurrency (same order as REUSE_CONCURRENCY). */
  per10k: Summary[];
  requests: number;
  errors: number;
}

export interface ReuseReport {
  counter: string;
  warmSeconds: number;
  runSeconds: number;
  rounds: number;
  rows: ReuseRow[];
}

/** Runs every subject at every concurrency, interleaved, `REUSE_ROUNDS` times. */
export async function connectionReuse(subjects: readonly ReuseSubject[], accepted: () => Promise<number>, counter: string): Promise<ReuseReport> {
  const per = new Map<string, number[][]>(subjects.map((s) => [s.name, REUSE_CONCURRENCY.map(() => [])]));
  const totals = new Map<string, { requests: number; errors: number }>(subjects.map((s) => [s.name, { requests: 0, errors: 0 }]));
  for (let round = 0; round < REUSE_ROUNDS; round++) {
    for (const [ci, c] of REUSE_CONCURRENCY.entries()) {
      for (const s of subjects) {
        const url = `http://127.0.0.1:${s.port}/`;
        await saturate({ url, seconds: WARM_S, connections: c, host: s.host });
        const before = await accepted();
        const r = await saturate({ url, seconds: RUN_S, connections: c, host: s.host });
        const after = await accepted();
        // The second reading's own connection is in `after` (see acceptedBy).
        const opened = after - before - 1;
        per.get(s.name)?.[ci]?.push(r.requests > 0 ? (opened / r.requests) * 10_000 : NaN);
        const t = totals.get(s.name) as { requests: number; errors: number };
        t.requests += r.requests;
        t.errors += r.errors;
      }
    }
  }
  return {
    counter,
    warmSeconds: WARM_S,
    runSeconds: RUN_S,
    rounds: REUSE_ROUNDS,
    rows: subjects.map((s) => ({ name: s.name, per10k: (per.get(s.name) ?? []).map((xs) => summarize(xs)), ...(totals.get(s.name) as { requests: number; errors: number }) })),
  };
}
