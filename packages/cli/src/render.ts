import type { Agent, FleetState, Pool, Route, Upstream, WaitResult, WriteResult } from "./types.js";

/** Same syntax the CLI accepts, so an operator can paste what they see back into a command. */
export function describeUpstream(u: Upstream | null | undefined): string {
  if (u === null || u === undefined) return "(none)";
  if (typeof u === "string") return u;
  return Object.entries(u.split).map(([pool, w]) => `${pool}=${w}`).join(",");
}

export function describeRoute(r: Route): string {
  if (r.upstream !== undefined) return describeUpstream(r.upstream);
  return (r.rules ?? []).map((x) => `${x.path} -> ${describeUpstream(x.upstream)}`).join("; ");
}

/** `ADDRESS` or `ADDRESS=WEIGHT`, as `pool set` takes them. */
export function describeTargets(p: Pool): string {
  return p.targets.map((t) => (t.weight && t.weight !== 1 ? `${t.address}=${t.weight}` : t.address)).join(", ");
}

/** Left-aligned columns separated by two spaces; no colour, so output pipes and diffs cleanly. */
export function table(headers: string[], rows: string[][], indent = ""): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => indent + cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, (now - t) / 1000);
  if (s < 10) return `${s.toFixed(1)}s ago`;
  if (s < 120) return `${Math.round(s)}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

export function renderAgents(agents: Agent[], now = Date.now()): string {
  if (agents.length === 0) return "no live agents\n";
  return table(
    ["ID", "REVISION", "LAG", "LAST SEEN", "VERSION", "ADDRESS"],
    agents.map((a) => [a.id, String(a.revision), String(a.lag), ago(a.lastSeen, now), a.version ?? "", a.address ?? ""].map((c, i) => (i === 2 && a.lag === null ? "other epoch" : c))),
  );
}

export function renderStatus(state: FleetState, agents: Agent[], now = Date.now()): string {
  let out = `revision  ${state.revision}\ndefault   ${describeUpstream(state.defaultUpstream)}\n`;
  const pools = Object.entries(state.pools);
  out += `\npools (${pools.length})\n`;
  out += pools.length
    ? table(["NAME", "TARGETS"], pools.map(([name, p]) => [name, describeTargets(p)]), "  ")
    : "  none\n";
  const routes = Object.entries(state.routes);
  out += `\nroutes (${routes.length})\n`;
  out += routes.length ? table(["HOST", "UPSTREAM"], routes.map(([host, r]) => [host, describeRoute(r)]), "  ") : "  none\n";
  out += `\nagents (${agents.length})\n`;
  out += agents.length
    ? table(["ID", "REVISION", "LAG", "LAST SEEN"], agents.map((a) => [a.id, String(a.revision), a.lag === null ? "other epoch" : String(a.lag), ago(a.lastSeen, now)]), "  ")
    : "  none live\n";
  return out;
}

export function isWaitResult(r: WriteResult | WaitResult): r is WaitResult {
  return "complete" in r;
}
