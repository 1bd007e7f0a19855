import { looksLikeAddress } from "./address.js";
import type { Route, State, Upstream } from "./schema.js";

/** Pool names an upstream depends on; direct addresses depend on none. */
export function upstreamPools(u: Upstream): string[] {
  if (typeof u === "string") return looksLikeAddress(u) ? [] : [u];
  return Object.keys(u.split);
}

export function routePools(r: Route): string[] {
  const names = new Set<string>();
  if (r.upstream !== undefined) for (const p of upstreamPools(r.upstream)) names.add(p);
  for (const rule of r.rules ?? []) for (const p of upstreamPools(rule.upstream)) names.add(p);
  return [...names].sort();
}

export interface RefProblem {
  field: string;
  message: string;
}

/** Every route and the default must name existing pools. The Lua write scripts enforce the same invariant. */
export function referenceProblems(state: State): RefProblem[] {
  const problems: RefProblem[] = [];
  const has = (p: string) => Object.hasOwn(state.pools, p);
  if (state.defaultUpstream !== null) {
    for (const p of upstreamPools(state.defaultUpstream)) {
      if (!has(p)) problems.push({ field: "defaultUpstream", message: `default upstream names unknown pool '${p}'` });
    }
  }
  for (const [host, route] of Object.entries(state.routes)) {
    for (const p of routePools(route)) {
      if (!has(p)) problems.push({ field: `routes.${host}`, message: `route '${host}' names unknown pool '${p}'` });
    }
  }
  return problems;
}

/** Compact human form used by the seed-compatible text endpoint and in logs. */
export function describeUpstream(u: Upstream | null | undefined): string {
  if (u === null || u === undefined) return "none";
  if (typeof u === "string") return u;
  return `split(${Object.entries(u.split).map(([p, w]) => `${p}=${w}`).join(",")})`;
}

export function describeRoute(r: Route | null | undefined): string {
  if (!r) return "none";
  if (r.upstream !== undefined) return describeUpstream(r.upstream);
  return `rules(${(r.rules ?? []).map((x) => `${x.path}=>${describeUpstream(x.upstream)}`).join(",")})`;
}
