import type { Op } from "./protocol.js";
import type { State } from "./model/schema.js";
import { copyDict, dict } from "./model/dict.js";
import { routePools, upstreamPools } from "./model/refs.js";
import { CorruptState } from "./store/errors.js";

export const EMPTY_STATE: State = Object.freeze({ defaultUpstream: null, pools: Object.freeze(dict()), routes: Object.freeze(dict()) }) as State;

/**
 * Applies ops in order to a copy of `state`, mirroring write.lua, and checks the references the
 * ops touch. The ops must already have passed the ChangeMessage schema, so only the cross-entity
 * invariant is left: every route and the default name existing pools. Cost is O(ops), except a
 * pool delete, which scans the routes. The input is never mutated: readers may hold it. Pools and
 * routes are copied into null-prototype objects (see dict.ts), so a host is always an own key.
 * Throws CorruptState when an op breaks the invariant.
 */
export function applyOps(state: State, ops: readonly Op[]): State {
  let pools = state.pools;
  let routes = state.routes;
  let defaultUpstream = state.defaultUpstream;
  const copyPools = () => (pools === state.pools ? (pools = copyDict(state.pools)) : pools);
  const copyRoutes = () => (routes === state.routes ? (routes = copyDict(state.routes)) : routes);
  const named: { pools: string[]; who: string }[] = [];
  const deleted: string[] = [];
  for (const op of ops) {
    switch (op.op) {
      case "pool.put":
        copyPools()[op.name] = op.pool;
        break;
      case "pool.del":
        delete copyPools()[op.name];
        deleted.push(op.name);
        break;
      case "route.put":
        copyRoutes()[op.host] = op.route;
        named.push({ pools: routePools(op.route), who: `route '${op.host}'` });
        break;
      case "route.del":
        delete copyRoutes()[op.host];
        break;
      case "default.put":
        defaultUpstream = op.upstream;
        named.push({ pools: op.upstream === null ? [] : upstreamPools(op.upstream), who: "default upstream" });
        break;
    }
  }
  const missing = (p: string) => !Object.hasOwn(pools, p);
  for (const { pools: names, who } of named) {
    const gone = names.find(missing);
    if (gone) throw new CorruptState(`${who} names unknown pool '${gone}'`);
  }
  if (deleted.length > 0) {
    const gone = new Set(deleted.filter(missing));
    const users = [
      ...(defaultUpstream === null ? [] : [["default upstream", upstreamPools(defaultUpstream)] as const]),
      ...Object.entries(routes).map(([h, r]) => [`route '${h}'`, routePools(r)] as const),
    ];
    for (const [who, names] of users) {
      const p = names.find((n) => gone.has(n));
      if (p) throw new CorruptState(`${who} names deleted pool '${p}'`);
    }
  }
  return { defaultUpstream, pools, routes };
}

export function isEmptyState(s: State): boolean {
  return s.defaultUpstream === null && Object.keys(s.routes).length === 0 && Object.keys(s.pools).length === 0;
}
