import type { Op } from "./protocol.js";
import type { State } from "./model/schema.js";
import { copyDict, dict } from "./model/dict.js";
import { routePools, upstreamPools } from "./model/refs.js";
import { ShardedMap, dictView, shardedOf } from "./model/sharded.js";
import type { Route } from "./model/schema.js";
import { CorruptState } from "./store/errors.js";

export const EMPTY_STATE: State = Object.freeze({ defaultUpstream: null, pools: Object.freeze(dict()), routes: Object.freeze(dict()) }) as State;

/** What one applyOps call changed, for an incremental compile (the agent's serve/holder.ts). */
export interface Derivation {
  /**
   * The identity of the state the ops were applied to (stateId), never the state itself: each state
   * holding its parent would keep every state ever applied alive.
   */
  readonly from: number;
  /** Hosts whose route was put or deleted. */
  readonly hosts: ReadonlySet<string>;
  /** A pool or the default upstream changed: every route may resolve differently. */
  readonly wide: boolean;
}

const derivations = new WeakMap<State, Derivation>();
const ids = new WeakMap<State, number>();
let lastId = 0;
const stateId = (s: State): number => {
  let id = ids.get(s);
  if (id === undefined) ids.set(s, (id = ++lastId));
  return id;
};
// Route maps built beside a state that came as plain Dicts (a snapshot): see adoptRoutes.
const adopted = new WeakMap<State, ShardedMap<Route>>();

/** How `next` was made from `prev` by one applyOps call, or undefined when it was not. */
export function derivationOf(next: State, prev: State): Derivation | undefined {
  const d = derivations.get(next);
  return d !== undefined && d.from === stateId(prev) ? d : undefined;
}

/**
 * Hands applyOps the persistent form of `state.routes` (same entries), built by whoever walked
 * them anyway (the agent's sliced full compile), so the first change after a snapshot does not
 * convert 10k routes at once.
 */
export function adoptRoutes(state: State, routes: ShardedMap<Route>): void {
  if (routes.size === Object.keys(state.routes).length) adopted.set(state, routes);
}

/** The routes of `state` as a persistent map: shared when it has one, else built (O(routes), once). */
export function routesMap(state: State): ShardedMap<Route> {
  const known = shardedOf(state.routes) ?? adopted.get(state);
  if (known !== undefined) return known;
  const count = Object.keys(state.routes).length;
  const built = ShardedMap.from<Route>(Object.entries(state.routes), count);
  adopted.set(state, built);
  return built;
}

/**
 * Applies ops in order to a copy of `state`, mirroring write.lua, and checks the references the
 * ops touch. The ops must already have passed the ChangeMessage schema, so only the cross-entity
 * invariant is left: every route and the default name existing pools. Cost is O(ops), except a
 * pool delete, which scans the routes. The input is never mutated: readers may hold it.
 *
 * Routes live in a persistent sharded map (model/sharded.ts) seen through a read-only Dict view:
 * a one-route change copies one shard (~sqrt(n) entries), not the whole map. Pools are few and are
 * copied into a null-prototype object (see dict.ts), so a name is always an own key.
 * Throws CorruptState when an op breaks the invariant.
 */
export function applyOps(state: State, ops: readonly Op[]): State {
  let pools = state.pools;
  let defaultUpstream = state.defaultUpstream;
  const copyPools = () => (pools === state.pools ? (pools = copyDict(state.pools)) : pools);
  let edit: ReturnType<ShardedMap<Route>["edit"]> | undefined;
  const editRoutes = () => (edit ??= routesMap(state).edit());
  const hosts = new Set<string>();
  let wide = false;
  const named: { pools: string[]; who: string }[] = [];
  const deleted: string[] = [];
  for (const op of ops) {
    switch (op.op) {
      case "pool.put":
        copyPools()[op.name] = op.pool;
        wide = true;
        break;
      case "pool.del":
        delete copyPools()[op.name];
        deleted.push(op.name);
        wide = true;
        break;
      case "route.put":
        editRoutes().set(op.host, op.route);
        hosts.add(op.host);
        named.push({ pools: routePools(op.route), who: `route '${op.host}'` });
        break;
      case "route.del":
        editRoutes().delete(op.host);
        hosts.add(op.host);
        break;
      case "default.put":
        defaultUpstream = op.upstream;
        wide = true;
        named.push({ pools: op.upstream === null ? [] : upstreamPools(op.upstream), who: "default upstream" });
        break;
    }
  }
  const missing = (p: string) => !Object.hasOwn(pools, p);
  for (const { pools: names, who } of named) {
    const gone = names.find(missing);
    if (gone) throw new CorruptState(`${who} names unknown pool '${gone}'`);
  }
  const routes = edit === undefined ? undefined : edit.done();
  if (deleted.length > 0) {
    const gone = new Set(deleted.filter(missing));
    const users = [
      ...(defaultUpstream === null ? [] : [["default upstream", upstreamPools(defaultUpstream)] as const]),
      ...[...(routes ?? routesMap(state)).entries()].map(([h, r]) => [`route '${h}'`, routePools(r)] as const),
    ];
    for (const [who, names] of users) {
      const p = names.find((n) => gone.has(n));
      if (p) throw new CorruptState(`${who} names deleted pool '${p}'`);
    }
  }
  const next: State = { defaultUpstream, pools, routes: routes === undefined ? state.routes : dictView(routes) };
  if (routes === undefined && adopted.has(state)) adopted.set(next, adopted.get(state) as ShardedMap<Route>);
  derivations.set(next, { from: stateId(state), hosts, wide });
  return next;
}

export function isEmptyState(s: State): boolean {
  return s.defaultUpstream === null && Object.keys(s.routes).length === 0 && Object.keys(s.pools).length === 0;
}
