import { isWildcard, type State } from "@switchyard/shared";
import { compileRoute, makeTable, partsOf, type CompiledRoute, type RouteTable } from "./table.js";

/**
 * The incremental compile: a new table for `state` made from `prev` by recompiling only `hosts`
 * (the routes a change put or deleted; shared/apply.ts derivationOf). Every other compiled route,
 * the pools' choosers (and their rotation), the default and the address set are shared with
 * `prev`; the exact-host map copies one shard per host (model/sharded.ts), the few wildcards are
 * copied whole. `prev` is not changed: a request holding it still routes by it.
 *
 * Only route changes take this path: a pool or default change can alter what every route resolves
 * to, so it recompiles the whole table (holder.ts). Undefined when `prev` was not made here.
 * Throws, as a full compile would, when a route does not compile.
 *
 * Left for the next full compile: the keep-alive pools of a direct address no route names any
 * more stay open until then (Upstreams.retain sees the address set, which only grows here).
 */
export function patchTable(prev: RouteTable, state: State, hosts: ReadonlySet<string>, revision: number): RouteTable | undefined {
  const parts = partsOf(prev);
  if (parts === undefined) return undefined;
  const exact = parts.exact.edit();
  let wildcards: Map<string, CompiledRoute> | undefined;
  for (const host of hosts) {
    const route = Object.hasOwn(state.routes, host) ? state.routes[host] : undefined;
    if (isWildcard(host)) {
      wildcards ??= new Map(parts.wildcards);
      if (route === undefined) wildcards.delete(host.slice(2));
      else wildcards.set(host.slice(2), compileRoute(parts.compiler, host, route));
    } else if (route === undefined) {
      exact.delete(host);
    } else {
      exact.set(host, compileRoute(parts.compiler, host, route));
    }
  }
  return makeTable({ ...parts, revision, exact: exact.done(), wildcards: wildcards ?? parts.wildcards });
}
