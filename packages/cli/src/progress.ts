import { describeUpstream, table } from "./render.js";
import { isTerminal, type Cutover, type CutoverStep, type PreflightReport, type Reading } from "./types.js";

const pct = (rate: number) => `${(rate * 100).toFixed(1)}%`;
const clock = (iso: string | null | undefined) => (iso && !Number.isNaN(Date.parse(iso)) ? new Date(iso).toISOString().slice(11, 19) : "--:--:--");

export function describeStrategy(s: Cutover["strategy"]): string {
  return s === "instant" ? "instant" : `canary ${s.canary.steps.join(",")} every ${s.canary.interval}`;
}

/** Step indexes are 1-based in the API, so they print as they are. */
export function describeStep(c: Pick<Cutover, "step" | "state">): string {
  return c.step ? `${c.state} (step ${c.step.index}/${c.step.total}, ${c.step.weight}%)` : c.state;
}

function describeFrom(c: Cutover): string {
  const froms = Object.entries(c.from ?? {});
  const distinct = new Set(froms.map(([, u]) => describeUpstream(u)));
  if (distinct.size === 1) return [...distinct][0] as string;
  return froms.map(([h, u]) => `${h}: ${describeUpstream(u)}`).join("; ") || "(unknown)";
}

export function ackLine(s: CutoverStep): string {
  const total = s.acks.length + s.stragglers.length;
  return `acked by ${s.acks.length}/${total} agents${s.stragglers.length ? `; stragglers: ${s.stragglers.join(", ")}` : ""}`;
}

/** The write that put the original routes back, and who applied it. */
export function restoreLine(r: CutoverStep): string {
  if (r.revision === null) return "not written yet";
  const acked = r.acks.length + r.stragglers.length > 0 ? ackLine(r) : "acks pending";
  return `original routes written back at revision ${r.revision}, ${acked}`;
}

function readingLine(r: Reading): string {
  return `error rate ${pct(r.errorRate)} (${r.errors}/${r.requests} requests)`;
}

export function preflightLines(p: PreflightReport): string[] {
  const targets = Object.entries(p.targets);
  if (p.ok) return [`preflight ok: ${targets.length} target${targets.length === 1 ? "" : "s"} healthy from the edges`];
  const out = ["preflight failed:"];
  for (const [address, t] of targets) {
    if (t.ok) continue;
    const bad = Object.entries(t.agents).filter(([, a]) => !a.ok).map(([id, a]) => `${id}: ${a.error ?? `HTTP ${a.status ?? "?"}`}`);
    out.push(`  ${address} unhealthy${bad.length ? ` from ${bad.join(", ")}` : ""}`);
  }
  if (p.missingAgents.length) out.push(`  agents that did not report: ${p.missingAgents.join(", ")}`);
  return out;
}

export function renderCutover(c: Cutover): string {
  const rows: [string, string][] = [
    ["cutover", c.id],
    ["state", describeStep(c)],
    ["hosts", c.hosts.join(", ")],
    ["from", describeFrom(c)],
    ["to", describeUpstream(c.to)],
    ["strategy", describeStrategy(c.strategy)],
  ];
  if (c.at) rows.push(["at", c.at]);
  rows.push(["created", `${c.createdAt} by ${c.createdBy}`], ["updated", c.updatedAt]);
  if (c.reason) rows.push(["reason", c.reason]);
  if (c.restore?.revision != null) rows.push(["restore", restoreLine(c.restore)]);
  let out = rows.map(([k, v]) => `${k.padEnd(9)} ${v}`).join("\n") + "\n";
  if (c.preflight) out += preflightLines(c.preflight).join("\n") + "\n";
  if (c.steps.length) {
    out += "\nsteps\n";
    out += table(
      ["STEP", "WEIGHT", "REVISION", "WRITTEN", "ACKS", "STRAGGLERS"],
      c.steps.map((s) => [String(s.index), `${s.weight}%`, s.revision === null ? "-" : String(s.revision), clock(s.writtenAt), String(s.acks.length), s.stragglers.join(", ") || "-"]),
      "  ",
    );
  }
  if (c.readings.length) {
    // The latest readings are what decide a rollback; older ones are in --json.
    const recent = c.readings.slice(-5);
    out += `\nreadings (${recent.length} of ${c.readings.length})\n`;
    out += table(["AT", "REQUESTS", "ERRORS", "ERROR RATE"], recent.map((r) => [clock(r.at), String(r.requests), String(r.errors), pct(r.errorRate)]), "  ");
  }
  return out;
}

export function renderCutoverList(list: Cutover[]): string {
  if (list.length === 0) return "no cutovers\n";
  return table(
    ["ID", "STATE", "STEP", "HOSTS", "TO", "CREATED"],
    list.map((c) => [c.id, c.state, c.step ? `${c.step.index}/${c.step.total} ${c.step.weight}%` : "-", c.hosts.join(","), describeUpstream(c.to), c.createdAt]),
  );
}

/**
 * Turns successive snapshots of one cutover into the lines that are new since the last one. Each
 * fact is remembered by key, so a snapshot seen twice (a re-read after a reconnect) prints nothing.
 */
export class ProgressRenderer {
  readonly #seen = new Set<string>();

  update(c: Cutover): string[] {
    const out: string[] = [];
    const emit = (key: string, at: string | null | undefined, text: string) => {
      if (this.#seen.has(key)) return;
      this.#seen.add(key);
      out.push(`${clock(at)}  ${text}`);
    };
    if (this.#seen.size === 0) {
      emit("head", c.createdAt, `cutover ${c.id}: ${c.hosts.join(", ")} ${describeFrom(c)} -> ${describeUpstream(c.to)}, ${describeStrategy(c.strategy)}${c.at ? `, at ${c.at}` : ""}`);
    }
    // One save may carry several changes (the SSE side coalesces), so the state line is placed
    // where that state sits in a step: switching, then the write, waiting_acks, the acks, baking.
    const stateLine = () => !isTerminal(c.state) && emit(`state:${c.state}:${c.step?.index ?? ""}`, c.updatedAt, describeStep(c));
    if (c.preflight) for (const [i, line] of preflightLines(c.preflight).entries()) emit(`preflight:${i}`, c.updatedAt, line);
    if (c.state === "scheduled" || c.state === "preflight" || c.state === "switching") stateLine();
    const total = c.step?.total ?? c.steps.length;
    for (const [i, s] of c.steps.entries()) {
      const label = `step ${s.index}/${total} (${s.weight}%)`;
      if (s.revision !== null) emit(`write:${s.index}:${s.revision}`, s.writtenAt, `${label} written at revision ${s.revision}`);
      if (i === c.steps.length - 1 && c.state === "waiting_acks") stateLine();
      if (s.acks.length + s.stragglers.length > 0) emit(`acks:${s.index}`, c.updatedAt, `${label} ${ackLine(s)}`);
    }
    if (c.state === "waiting_acks" || c.state === "baking") stateLine();
    for (const [i, r] of c.readings.entries()) {
      // Samples come every second or so; an unchanged one would only scroll the useful lines away.
      const prev = c.readings[i - 1];
      if (prev && prev.requests === r.requests && prev.errors === r.errors) continue;
      emit(`reading:${i}`, r.at, readingLine(r));
    }
    if (c.restore?.revision != null) emit(`restore:${c.restore.revision}:${c.restore.acks.length + c.restore.stragglers.length > 0}`, c.restore.writtenAt ?? c.updatedAt, restoreLine(c.restore));
    stateLine(); // any state this CLI does not know yet still shows up
    if (isTerminal(c.state)) emit("final", c.updatedAt, `${c.state}${c.reason ? `: ${c.reason}` : ""}`);
    return out;
  }
}
