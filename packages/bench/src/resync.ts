import { buildKeys } from "@switchyard/shared";
import { startPaced } from "./load.js";
import { sleep, summarize, type Summary } from "./measure.js";
import type { AgentProc } from "./procs.js";
import { connect } from "./state.js";

/**
 * Full snapshot reloads in agent processes that serve a paced load, each reload next to a control
 * window of the same length without one. The agents run with eld-probe.mjs preloaded, which
 * reports their own event-loop delay (monitorEventLoopDelay, 1 ms resolution).
 */

export interface ResyncTarget {
  label: string;
  agent: AgentProc;
  prefix: string;
  eldPort: number;
}

export interface ResyncRow {
  label: string;
  resyncMs: Summary;
  block: Summary;
  control: Summary;
}

export async function resyncUnderLoad(redisUrl: string, targets: ResyncTarget[], hosts: readonly string[], rate: number, rounds: number): Promise<{ rows: ResyncRow[]; failed: number; failedDetail: string }> {
  const redis = connect(redisUrl);
  const sub = connect(redisUrl);
  const waiters = new Map<string, (rev: number) => void>();
  sub.on("message", (_c: string, raw: string) => {
    const m = JSON.parse(raw) as { agent: string; revision: number };
    waiters.get(m.agent)?.(m.revision);
  });
  for (const t of targets) await sub.subscribe(buildKeys(t.prefix).acks);
  const eld = async (t: ResyncTarget, path: string) => (await (await fetch(`http://127.0.0.1:${t.eldPort}${path}`)).json()) as { maxMs: number };

  // Every agent gets `rate` requests per second for random hosts throughout.
  const run = startPaced({
    targets: targets.map((t) => ({ host: "127.0.0.1", port: t.agent.port })),
    rate: rate * targets.length,
    maxMs: 60_000,
    hostHeader: () => hosts[Math.floor(Math.random() * hosts.length)] as string,
  });
  const raw = targets.map(() => ({ ms: [] as number[], block: [] as number[], control: [] as number[] }));
  try {
    await sleep(500);
    for (let r = 0; r < rounds; r++) {
      for (const [i, t] of targets.entries()) {
        const keys = buildKeys(t.prefix);
        const rev = Number((await redis.get(keys.rev)) ?? 0);
        const ack = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${t.label}: no ack for a snapshot reload within 10 s`)), 10_000);
          waiters.set(t.agent.id, (got) => got >= rev + 1 && (clearTimeout(timer), resolve()));
        });
        await eld(t, "/reset");
        const t0 = performance.now();
        // The log is emptied and the revision moves to rev+1 (same routes); the hint says rev+2. The
        // agent sees a gap the log cannot fill and loads a full snapshot: the reload under test.
        await redis.multi().xtrim(keys.log, "MAXLEN", 0).incr(keys.rev).exec();
        await redis.publish(keys.changes, JSON.stringify({ v: 2, epoch: await redis.get(keys.epoch), rev: rev + 2, at: Date.now(), actor: "bench", ops: [{ op: "default.put", upstream: null }] }));
        await ack;
        const took = performance.now() - t0;
        await sleep(20);
        const x = raw[i] as (typeof raw)[number];
        x.ms.push(took);
        x.block.push((await eld(t, "/read")).maxMs);
        await sleep(100);
        await eld(t, "/reset");
        await sleep(took + 20);
        x.control.push((await eld(t, "/read")).maxMs);
        await sleep(100);
      }
    }
  } finally {
    await run.stop();
    redis.disconnect();
    sub.disconnect();
  }
  const bad = run.samples.filter((s) => s.status !== 200);
  return {
    rows: targets.map((t, i) => ({ label: t.label, resyncMs: summarize(raw[i]?.ms ?? []), block: summarize(raw[i]?.block ?? []), control: summarize(raw[i]?.control ?? []) })),
    failed: bad.length + run.errors.length + run.skipped,
    failedDetail: [
      ...[...new Set(bad.map((s) => s.status))].map((st) => `${bad.filter((s) => s.status === st).length} × HTTP ${st}`),
      ...(run.errors.length ? [`${run.errors.length} transport errors (first: ${run.errors[0]})`] : []),
      ...(run.skipped ? [`${run.skipped} not sent (over the outstanding cap)`] : []),
    ].join("; "),
  };
}
