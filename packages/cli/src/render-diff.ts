// Diffs, revisions and changes as text: values in the syntax the commands take.
import { describeRoute, describeTargets, describeUpstream, table } from "./render.js";
import type { ConvergeResult, DiffEntry, DryRunResult, Op, Pool, RevisionDetail, RevisionSummary, Route, Upstream } from "./types.js";

/** A pool, route or default upstream by its kind (`pool`, `route`, `default`); absent is `(none)`. */
export function describeValue(kind: string, v: unknown): string {
  if (v === null || v === undefined || v === "") return "(none)";
  try {
    if (kind === "route" || kind === "routes") return describeRoute(v as Route);
    if (kind === "pool" || kind === "pools") return describeTargets(v as Pool);
    if (kind === "default" || kind === "defaultUpstream") return describeUpstream(v as Upstream);
  } catch {
    // An unexpected shape: fall through to the raw JSON rather than fail the listing.
  }
  return JSON.stringify(v);
}

const unescape = (s: string) => s.replace(/~1/g, "/").replace(/~0/g, "~");

/** `+ pool red: 127.0.0.1:9003`, `~ route a.com: blue -> green`, `- route b.com (was blue)`, `~ default: green -> (none)`. */
export function renderDiff(diff: DiffEntry[]): string {
  return diff
    .map((d) => {
      const [kind = "", name = ""] = d.path.split("/").slice(1).map(unescape);
      const what = kind === "defaultUpstream" ? "default" : `${kind === "pools" ? "pool" : "route"} ${name}`;
      if (d.before === null) return `+ ${what}: ${describeValue(kind, d.after)}\n`;
      if (d.after === null && kind !== "defaultUpstream") return `- ${what} (was ${describeValue(kind, d.before)})\n`;
      return `~ ${what}: ${describeValue(kind, d.before)} -> ${describeValue(kind, d.after)}\n`;
    })
    .join("");
}

const changes = (n: number) => `${n} change${n === 1 ? "" : "s"}`;

export function renderDryRun(r: DryRunResult): string {
  let out = `dry run at revision ${r.revision}: ${r.diff.length === 0 ? "no changes" : changes(r.diff.length)}; nothing was written\n`;
  out += renderDiff(r.diff);
  if (r.plan) {
    out += `plan for ${r.plan.hosts.join(", ")}:\n`;
    for (const s of r.plan.steps) out += `  step ${s.index} (${s.weight}%): ${Object.entries(s.routes).map(([h, route]) => `${h} -> ${describeRoute(route)}`).join("; ")}\n`;
  }
  return out;
}

export const changeCount = changes;

export function renderRevisions(list: RevisionSummary[]): string {
  if (list.length === 0) return "no revisions in the change log\n";
  return table(["REV", "AT", "ACTOR", "SUMMARY"], list.map((r) => [String(r.revision), r.at.replace(/\.\d{3}Z$/, "Z"), r.actor, r.summary]));
}

const target = (op: Op) => ("host" in op ? op.host : "name" in op ? op.name : "default");
const after = (op: Op): unknown => (op.op === "pool.put" ? op.pool : op.op === "route.put" ? op.route : op.op === "default.put" ? op.upstream : null);

export function renderRevision(r: RevisionDetail): string {
  let out = `revision  ${r.revision}\nat        ${r.at.replace(/\.\d{3}Z$/, "Z")}\nactor     ${r.actor}\n${r.note ? `note      ${r.note}\n` : ""}\n`;
  out += table(
    ["OP", "TARGET", "CHANGE"],
    r.ops.map((op, i) => {
      const kind = op.op.split(".")[0] as string;
      const was = r.before ? describeValue(kind, r.before[i]) : "?";
      return [op.op, target(op), `${was} -> ${describeValue(kind, after(op))}`];
    }),
  );
  return out;
}

/** What a converging write did: the diff, or that the state already matched (no new revision). */
export function describeConverge(r: ConvergeResult, done: string, same: string): string {
  if (!r.changed) return `${same}; nothing written (revision ${r.revision})`;
  return `${done} at revision ${r.revision}: ${changes(r.diff.length)}\n${renderDiff(r.diff).trimEnd()}`;
}

