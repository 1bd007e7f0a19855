import { randomPrefix, type RedisHandle } from "@switchyard/testkit";
import { startFleet } from "../../e2e/src/fleet.js";
import { startPaced } from "./load.js";
import { QUICK, ROUNDS, pct, sleep, summarize, type Summary } from "./measure.js";
import { agentFeatures } from "./procs.js";
import { proveRevisions, type AckedSwitch, type RevisionProof, type RouteWrite } from "./revision-proof.js";

/**
 * Section 4: 100 switches through the controller (`?wait=applied`) while a paced load runs through
 * three agent processes. The agents stamp every response with the revision that routed it
 * (AGENT_REVISION_HEADER), and revision-proof.ts checks those stamps against the acks: no response
 * routed by a revision older than one its agent had acked when the request reached it, every colour
 * what its revision routes to; and no request may fail at all.
 */

const SWITCHES = QUICK ? 20 : 100;
const RATE = 600;
/** The response header the agents stamp (AGENT_REVISION_HEADER=<name>). */
export const REVISION_HEADER = "x-switchyard-revision";

export interface CutoverReport {
  engine: string;
  rate: number;
  switches: number;
  requests: number;
  failed: number;
  /** What the failures were: statuses, transport errors, requests not sent. */
  failedDetail: string;
  /** Undefined when the agent cannot stamp revisions; proofMissing then says why. */
  proof: RevisionProof | undefined;
  proofMissing: string;
  incomplete: number;
  answer: { p50: number; p99: number; max: number };
  answerRounds: Summary;
}

/** Counts of each distinct failure: `HTTP 502 ×3; connect ECONNREFUSED ×1; 2 not sent (over the outstanding cap)`. */
function failures(load: { samples: { status: number }[]; errors: string[]; skipped: number }): string {
  const counts = new Map<string, number>();
  for (const what of [...load.samples.filter((s) => s.status !== 200).map((s) => `HTTP ${s.status}`), ...load.errors]) counts.set(what, (counts.get(what) ?? 0) + 1);
  const parts = [...counts].map(([what, n]) => `${what} ×${n}`);
  if (load.skipped) parts.push(`${load.skipped} not sent (over the outstanding cap: the agents fell behind)`);
  return parts.slice(0, 6).join("; ");
}

export async function cutover(redis: RedisHandle): Promise<CutoverReport> {
  const features = agentFeatures();
  const fleet = await startFleet(redis, randomPrefix("bench-cut"), ["127.0.0.2", "127.0.0.3", "127.0.0.4"], { AGENT_REVISION_HEADER: REVISION_HEADER });
  try {
    const pool = (addrs: string[]) => ({ targets: addrs.map((address) => ({ address })), keepalive: 16 });
    for (const [name, addrs] of Object.entries(fleet.apps)) {
      const r = await fleet.api("PUT", `/v1/pools/${name}`, pool(addrs));
      if (r.status !== 200) throw new Error(`pool ${name}: ${r.text}`);
    }
    const index = new Map(fleet.agents.map((a, i) => [a.id, i]));
    const writes: RouteWrite[] = [];
    const switches: AckedSwitch[] = [];
    /** One route write with ?wait=applied, recorded as the proof needs it; true when every agent acked. */
    const write = async (color: string): Promise<{ complete: boolean; ms: number }> => {
      const t0 = performance.now();
      const res = await fleet.api("PUT", "/v1/routes/demo.local?wait=applied&timeout=5000", { upstream: color });
      const answeredAt = performance.now();
      if (res.status !== 200 || typeof res.body?.revision !== "number") throw new Error(`switch to ${color}: ${res.status} ${res.text}`);
      const applied = ((res.body.applied ?? []) as { id: string }[]).map((a) => index.get(a.id)).filter((i): i is number => i !== undefined);
      writes.push({ revision: res.body.revision as number, color });
      switches.push({ revision: res.body.revision as number, color, answeredAt, applied: new Set(applied) });
      return { complete: res.body.complete === true && applied.length === fleet.agents.length, ms: answeredAt - t0 };
    };
    if (!(await write("blue")).complete) throw new Error("first route not applied by every agent");

    const load = startPaced({
      targets: fleet.agents.map((a) => ({ host: a.host, port: a.port })),
      rate: RATE,
      maxMs: 120_000,
      hostHeader: () => "demo.local",
      keepBody: true,
      header: REVISION_HEADER,
      connectionsPerTarget: 4,
    });
    const answers: number[][] = Array.from({ length: ROUNDS }, () => []);
    let incomplete = 0;
    try {
      await sleep(300);
      for (let k = 0; k < SWITCHES; k++) {
        // Alternating colours alone cannot tell flip k+1 from flip k-1; the stamped revision can.
        const { complete, ms } = await write(k % 2 === 0 ? "green" : "blue");
        answers[Math.floor((k * ROUNDS) / SWITCHES)]?.push(ms);
        if (!complete) incomplete++;
        // Let each colour carry some traffic (~30 requests) before the next flip; bounded at 2 s.
        const seen = load.samples.length;
        for (let w = 0; w < 200 && load.samples.length < seen + 30; w++) await sleep(10);
      }
    } finally {
      await load.stop();
    }

    const responses = load.samples.map((x) => ({ agent: x.target, sent: x.sent, done: x.done, status: x.status, color: x.body.split(/[-\s]/)[0] ?? "", revision: x.header }));
    const all = answers.flat();
    return {
      engine: features.defaultEngine ? `AGENT_ENGINE unset: ${features.defaultEngine}` : "as shipped",
      rate: RATE,
      switches: SWITCHES,
      requests: load.samples.length + load.errors.length + load.skipped,
      failed: load.samples.filter((s) => s.status !== 200).length + load.errors.length + load.skipped,
      failedDetail: failures(load),
      proof: features.revisionHeader ? proveRevisions(writes, switches, responses) : undefined,
      proofMissing: "not measured: this agent has no AGENT_REVISION_HEADER yet (it comes with the serve redesign of issue 11)",
      incomplete,
      answer: { p50: pct(all, 50), p99: pct(all, 99), max: Math.max(...all) },
      answerRounds: summarize(answers.map((a) => pct(a, 50))),
    };
  } finally {
    await fleet.stop();
  }
}
