import { randomPrefix, type RedisHandle } from "@switchyard/testkit";
import { startFleet } from "../../e2e/src/fleet.js";
import { staleAfterAck } from "../../e2e/src/load.js";
import { startPaced } from "./load.js";
import { QUICK, ROUNDS, pct, sleep, summarize, type Summary } from "./measure.js";
import { agentFeatures } from "./procs.js";

/**
 * Section 4: 100 switches through the controller (`?wait=applied`) while a paced load runs through
 * three agent processes. The check is the one in packages/e2e/test/fleet.test.ts: a request that
 * started on agent i after agent i acked flip k (and before flip k+1 was written) must get flip k's
 * colour; and no request may fail at all.
 */

const SWITCHES = QUICK ? 20 : 100;
const RATE = 600;

export interface CutoverReport {
  engine: string;
  rate: number;
  switches: number;
  requests: number;
  failed: number;
  checked: number;
  stale: number;
  incomplete: number;
  answer: { p50: number; p99: number; max: number };
  answerRounds: Summary;
}

export async function cutover(redis: RedisHandle): Promise<CutoverReport> {
  const fleet = await startFleet(redis, randomPrefix("bench-cut"), ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
  try {
    const pool = (addrs: string[]) => ({ targets: addrs.map((address) => ({ address })), keepalive: 16 });
    for (const [name, addrs] of Object.entries(fleet.apps)) {
      const r = await fleet.api("PUT", `/v1/pools/${name}`, pool(addrs));
      if (r.status !== 200) throw new Error(`pool ${name}: ${r.text}`);
    }
    const first = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: "blue" });
    if (first.body?.complete !== true) throw new Error(`first route not applied: ${first.text}`);

    const load = startPaced({
      targets: fleet.agents.map((a) => ({ host: a.host, port: a.port })),
      rate: RATE,
      maxMs: 120_000,
      hostHeader: () => "demo.local",
      keepBody: true,
      connectionsPerTarget: 4,
    });
    const flips: { color: string; writeAt: number; acks: Map<string, number> }[] = [];
    const answers: number[][] = Array.from({ length: ROUNDS }, () => []);
    let incomplete = 0;
    try {
      await sleep(300);
      for (let k = 0; k < SWITCHES; k++) {
        const color = k % 2 === 0 ? "green" : "blue";
        const writeAt = Date.now();
        const t0 = performance.now();
        const res = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: color });
        answers[Math.floor((k * ROUNDS) / SWITCHES)]?.push(performance.now() - t0);
        const applied = (res.body?.applied ?? []) as { id: string; appliedAt: string }[];
        if (res.status !== 200 || res.body?.complete !== true || applied.length !== fleet.agents.length) incomplete++;
        flips.push({ color, writeAt, acks: new Map(applied.map((a) => [a.id, Date.parse(a.appliedAt)])) });
        // Let each colour carry some traffic (~30 requests) before the next flip; bounded at 2 s.
        const seen = load.samples.length;
        for (let w = 0; w < 200 && load.samples.length < seen + 30; w++) await sleep(10);
      }
    } finally {
      await load.stop();
    }

    const { checked, stale } = staleAfterAck(
      flips,
      fleet.agents.map((a) => a.id),
      load.samples.map((x) => ({ agent: x.target, start: x.start, color: x.body.split(/[-\s]/)[0] ?? "" })),
    );
    const all = answers.flat();
    const features = agentFeatures();
    return {
      engine: features.defaultEngine ? `AGENT_ENGINE unset: ${features.defaultEngine}` : "the one engine",
      rate: RATE,
      switches: SWITCHES,
      requests: load.samples.length + load.errors.length + load.skipped,
      failed: load.samples.filter((s) => s.status !== 200).length + load.errors.length + load.skipped,
      checked,
      stale,
      incomplete,
      answer: { p50: pct(all, 50), p99: pct(all, 99), max: Math.max(...all) },
      answerRounds: summarize(answers.map((a) => pct(a, 50))),
    };
  } finally {
    await fleet.stop();
  }
}
