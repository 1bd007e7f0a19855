import { fmtNum } from "./measure.js";
import type { PropagationReport } from "./propagation.js";
import { ms, table } from "./report.js";
import type { ScaleReport } from "./scale.js";

/** Issue 16's propagation rows (names are a contract) and section 7's tables. */

type Add = (what: string, measured: string | undefined, pass: boolean | undefined) => void;

/** p99 write → last ack of N agents ÷ p99 PUBLISH → last answer of N raw subscribers, same run. */
export function rawRatios(p: PropagationReport | undefined): { n: number; agent: number; raw: number; ratio: number }[] {
  return (p?.raw ?? []).flatMap((r) => {
    const a = p?.rows.find((x) => x.n === r.n);
    return a ? [{ n: r.n, agent: a.pooled.p99, raw: r.p99, ratio: a.pooled.p99 / r.p99 }] : [];
  });
}

export function scaleTargets(p: PropagationReport | undefined, s: ScaleReport | undefined, add: Add): void {
  for (const r of rawRatios(p)) {
    add(`propagation ÷ raw Redis pub/sub: p99 write → last ack ÷ p99 PUBLISH → last raw subscriber, ${fmtNum(r.n)} agents, same run, ≤ 1.5×`, `${fmtNum(r.ratio, 2)}× (${fmtNum(r.agent, 1)} ms ÷ ${fmtNum(r.raw, 1)} ms)`, r.ratio <= 1.5);
  }
  if (!p?.raw.length) add("propagation ÷ raw Redis pub/sub ≤ 1.5× (100 and 1,000 agents)", undefined, undefined);
  const primary = p?.rows.find((x) => x.n === s?.replicaAgents);
  const rep = s?.replicas;
  add(
    `propagation via replicas: ${fmtNum(s?.replicaAgents ?? 1000)} agents on 2 replicas, p99 write → last ack no worse than on the primary`,
    rep && primary && `${fmtNum(rep.pooled.p99, 1)} ms on replicas vs ${fmtNum(primary.pooled.p99, 1)} ms on the primary (${fmtNum(rep.pooled.p99 / primary.pooled.p99, 2)}×)`,
    rep && primary && rep.pooled.p99 <= primary.pooled.p99,
  );
  const sim = s?.sim;
  add(
    "10,000-agent simulation: write → last ack p50 / p99, memory per runner, Redis CPU per write (no numeric target)",
    sim && `${fmtNum(sim.agents)} agents: p50 ${fmtNum(sim.p50, 0)} ms, p99 ${fmtNum(sim.p99, 0)} ms; ${fmtNum(sim.rssPerAgentKB, 0)} KB RSS per runner; Redis ${fmtNum(sim.redisCpuPerWriteNetMs, 1)} ms CPU per write above an idle ${fmtNum(sim.redisIdleCorePct, 0)}% of a core${sim.incomplete ? `; ${sim.incomplete} writes missing acks` : ""}${sim.note ? ` (${sim.note})` : ""}`,
    undefined,
  );
}

export function renderScale(s: ScaleReport, p: PropagationReport | undefined): string {
  const raw = rawRatios(p);
  const rep = s.replicas;
  const sim = s.sim;
  return [
    "Raw Redis pub/sub: the same N as plain ioredis subscribers (raw-sub-child.ts: own subscriber and command connection each, answering every message with one PUBLISH), in the same processes layout, measured right after the agents of that N, timed by the same clock (PUBLISH → arrival of the N-th answer in the bench process).",
    "Replicas: two redis-servers replicating the bench's primary; agents read and subscribe on a replica (half on each) and publish their proofs to the primary, where the bench times the acks. Compared with section 3's fleet of the same size on the primary.",
    `Simulation: ${fmtNum(sim?.agents ?? 10_000)} agents, each the agent's push flow (own command + subscriber connections, link, sync, proof with 1 s heartbeats), over ${sim?.procs ?? 4} processes and a private redis-server; writes one at a time, each waiting for every ack (timeout 15 s). Memory per runner = RSS of the child processes ÷ agents (Node's own ~50 MB per process included). Redis CPU per write = redis-server CPU over the writes, less the idle rate (heartbeats and PINGs) measured over 3 s just before.`,
    "",
    table(["figure", "value"], [
      ...(p?.raw ?? []).map((r) => [`${fmtNum(r.n)} raw subscribers: p99 PUBLISH → last answer`, `${fmtNum(r.p99, 1)} ms (p50 ${fmtNum(r.p50, 1)} ms; per round p99 ${ms(r.perRoundP99, 1)}; ${r.incomplete} missing answers)`]),
      ...raw.map((r) => [`${fmtNum(r.n)} agents ÷ raw, p99`, `${fmtNum(r.ratio, 2)}×`]),
      ...(rep
        ? [
            [`${fmtNum(rep.n)} agents on 2 replicas: pooled p50 / p99 / max`, `${fmtNum(rep.pooled.p50, 1)} / ${fmtNum(rep.pooled.p99, 1)} / ${fmtNum(rep.pooled.max, 1)} ms (${rep.writes} writes, ${rep.incomplete} missing acks)`],
            ["replicas: per-round p99", ms(rep.p99, 1)],
          ]
        : []),
      ...(sim
        ? [
            ["simulated agents (processes)", `${fmtNum(sim.agents)} (${sim.procs})${sim.note ? `: ${sim.note}` : ""}`],
            ["start-up: spawn → every agent ready", `${fmtNum(sim.startSeconds, 1)} s`],
            ["RSS: total / per runner", `${fmtNum(sim.rssTotalMB, 0)} MB / ${fmtNum(sim.rssPerAgentKB, 0)} KB`],
            ["redis-server idle load (heartbeats, PINGs)", `${fmtNum(sim.redisIdleCorePct, 0)}% of a core`],
            ["redis-server CPU per write: gross / above idle", `${fmtNum(sim.redisCpuPerWriteMs, 1)} / ${fmtNum(sim.redisCpuPerWriteNetMs, 1)} ms`],
            ["write → last ack: p50 / p99 / max", `${fmtNum(sim.p50, 0)} / ${fmtNum(sim.p99, 0)} / ${fmtNum(sim.max, 0)} ms (${sim.writes} writes, ${sim.incomplete} missing acks)`],
          ]
        : []),
      ...s.errors.map((e) => ["failed", e]),
    ]),
  ].join("\n");
}
