// Tables for pools, routes, the default upstream and the audit log. Upstreams and targets print
// in the syntax the commands take, so what an operator sees can be pasted back.
import { describeValue } from "./render-diff.js";
import { describeRoute, describeTargets, describeUpstream, table } from "./render.js";
import type { AuditRecord, FleetState, Pool, PoolHealthView, Route, Upstream } from "./types.js";

/** Pool names an upstream refers to (a pool name, or the pools of a split). Addresses name none. */
function poolsOf(u: Upstream | null | undefined, pools: Record<string, Pool>): string[] {
  if (u === null || u === undefined) return [];
  if (typeof u === "string") return Object.hasOwn(pools, u) ? [u] : [];
  return Object.keys(u.split);
}

/** Who uses each pool: hosts, and `(default)`; what makes `pool delete` answer 409. */
export function poolUsers(state: FleetState): Map<string, string[]> {
  const users = new Map<string, string[]>();
  const add = (pool: string, who: string) => {
    const list = users.get(pool) ?? [];
    if (!list.includes(who)) list.push(who);
    users.set(pool, list);
  };
  for (const [host, r] of Object.entries(state.routes)) {
    for (const u of [r.upstream, ...(r.rules ?? []).map((x) => x.upstream)]) for (const p of poolsOf(u, state.pools)) add(p, host);
  }
  for (const p of poolsOf(state.defaultUpstream, state.pools)) add(p, "(default)");
  return users;
}

export function renderPools(state: FleetState): string {
  const pools = Object.entries(state.pools).sort(([a], [b]) => a.localeCompare(b));
  if (pools.length === 0) return "no pools\n";
  const users = poolUsers(state);
  return table(
    ["NAME", "TARGETS", "KEEPALIVE", "USED BY"],
    pools.map(([name, p]) => [name, describeTargets(p), p.keepalive === undefined ? "-" : String(p.keepalive), (users.get(name) ?? []).join(", ") || "-"]),
  );
}

export function renderPool(name: string, p: Pool): string {
  let out = `pool       ${name}\nkeepalive  ${p.keepalive ?? "-"}\n\n`;
  out += table(["ADDRESS", "WEIGHT"], p.targets.map((t) => [t.address, String(t.weight ?? 1)]));
  return out;
}

/** `pool health NAME`: one line per agent and target. */
export function renderPoolHealth(name: string, agents: PoolHealthView[]): string {
  if (agents.length === 0) return `no live agent reports pool ${name}\n`;
  const rows = agents.flatMap((a) => {
    const agent = a.panic ? `${a.agent} (panic: routing to all)` : a.agent;
    if (a.targets.length === 0) return [[agent, "-", "not applied yet", "-", "-"]];
    return a.targets.map((t) => [agent, t.address, t.state, t.since === null ? "-" : when(t.since), t.lastError ?? "-"]);
  });
  return table(["AGENT", "ADDRESS", "STATE", "SINCE", "LAST ERROR"], rows);
}

export function renderRoutes(state: FleetState): string {
  const routes = Object.entries(state.routes).sort(([a], [b]) => a.localeCompare(b));
  if (routes.length === 0) return `no routes (default: ${describeUpstream(state.defaultUpstream)})\n`;
  return table(["HOST", "UPSTREAM"], routes.map(([host, r]) => [host, describeRoute(r)]));
}

export function renderRoute(host: string, r: Route): string {
  if (r.upstream !== undefined) return `route     ${host}\nupstream  ${describeUpstream(r.upstream)}\n`;
  return `route     ${host}\n\n` + table(["PATH", "UPSTREAM"], (r.rules ?? []).map((x) => [x.path, describeUpstream(x.upstream)])) +
    "(longest path prefix wins; other paths use the default upstream)\n";
}

const when = (at: number | string) => {
  const t = typeof at === "number" ? at : Date.parse(at);
  return Number.isNaN(t) ? String(at) : new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
};

export function renderAudit(records: AuditRecord[]): string {
  if (records.length === 0) return "no audit records\n";
  return table(
    ["REV", "AT", "ACTOR", "ACTION", "TARGET", "CHANGE"],
    records.map((r) => [String(r.revision), when(r.at), r.actor, r.action, r.target || "-", `${describeValue(r.action.split(".")[0] as string, r.before)} -> ${describeValue(r.action.split(".")[0] as string, r.after)}${r.note ? ` (${r.note})` : ""}`]),
  );
}
