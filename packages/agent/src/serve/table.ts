import { ShardedMap, adoptRoutes, hashKey, formatAddress, isWildcard, looksLikeAddress, parseAddress, shardedOf, type Pool, type Route, type ShardedEdit, type State, type Upstream } from "@switchyard/shared";
import { PoolBalancer, SmoothWeightedRoundRobin } from "./balancer.js";
import { resolution, type Resolution, type Target } from "./forward.js";
import { HealthRegistry } from "./health/registry.js";
import { poolPolicy } from "./health/target-health.js";

/**
 * The serving form of a State: built once per applied revision, then only read. The sync layer
 * swaps the whole table reference; a request holds on to the table it started with, so a swap
 * never changes the answer half-way through a request.
 *
 * Routing order: exact host, then the longest matching wildcard, then the default upstream, then
 * no route. Within a host that has rules the longest path prefix wins (plain string prefix, as in
 * nginx: `/api` also matches `/apix`), and a path no rule covers goes to the default upstream.
 */

export type { ForwardTarget, Resolution, Target, TargetChooser } from "./forward.js";

/** Where the serve flow reads the current table: once per request, never cached across requests. */
export interface TableSource {
  readonly current: RouteTable | undefined;
}

// Every table compile resolves every pool target again, and a fleet's tables name the same few
// addresses revision after revision: parse each spelling once. Targets are frozen, so sharing one
// between tables (and between the sync instances of one process) is safe. Bounded: a process that
// has seen more distinct spellings than this simply starts over.
const TARGET_CACHE_MAX = 100_000;
const targets = new Map<string, Target>();

/** Throws on a malformed address: tables are compiled from validated state, so this is a bug. */
export function toTarget(raw: string): Target {
  const known = targets.get(raw);
  if (known !== undefined) return known;
  const r = parseAddress(raw);
  if (!r.ok) throw new Error(`invalid upstream address '${raw}': ${r.message}`);
  const target: Target = Object.freeze({ ...r.address, key: formatAddress(r.address) });
  if (targets.size >= TARGET_CACHE_MAX) targets.clear();
  targets.set(raw, target);
  return target;
}

export interface RouteTable {
  readonly revision: number;
  readonly routeCount: number;
  readonly poolCount: number;
  /** Every Target.key the table can resolve to, for Upstreams.retain after a swap. */
  readonly addresses: ReadonlySet<string>;
  /** Each pool's balancer by name: the health registry's retain() and the active checker read them. */
  readonly pools: ReadonlyMap<string, PoolBalancer>;
  /**
   * `host` must already be normalized (normalizeHost); `path` carries no query string. `seen`, when
   * given, gets the key of the route that decided (per-route traffic counters, for canaries).
   */
  resolve(host: string, path: string, seen?: RouteSeen): Resolution;
}

export interface CompileOptions {
  /** A [0, 1) source for split draws; tests pass a seeded one. */
  random?: () => number;
  /**
   * Where per-target health lives across tables (the edge's one registry). Compiling only looks
   * targets up in it; without one, the table gets a registry of its own (tests).
   */
  health?: HealthRegistry;
}

/** One concrete choice an upstream reference makes per request. */
type Chooser = () => Resolution;

export type CompiledRoute =
  | { readonly host: string; readonly rules: undefined; readonly choose: Chooser }
  | { readonly host: string; readonly rules: readonly { readonly prefix: string; readonly choose: Chooser }[] };

/** Where resolve() notes which route decided: its host key ("" for the default upstream or none). */
export interface RouteSeen {
  route: string;
}

/** The plain rotation PoolBalancer is built on; exported for its unit test. */
export { SmoothWeightedRoundRobin };

const NO_ROUTE: Resolution = Object.freeze({ kind: "no_route" });

export class Compiler {
  /** Grows when an incremental compile meets a new direct address: a table's set is copied first (tables never change). */
  addresses = new Set<string>();
  /** Set by full compiles only (pool changes are wide): patched tables share it with their source. */
  readonly balancers = new Map<string, PoolBalancer>();
  private readonly pools = new Map<string, Chooser>();
  private readonly direct = new Map<string, Chooser>();
  private sealed = false;

  constructor(
    private readonly random: () => number,
    private readonly health: HealthRegistry,
  ) {}

  addPool(name: string, pool: Pool): void {
    for (const t of pool.targets) this.addresses.add(toTarget(t.address).key);
    const balancer = new PoolBalancer(name, pool, poolPolicy(pool), this.health.pool(name), toTarget);
    this.balancers.set(name, balancer);
    this.pools.set(name, () => balancer.pick());
  }

  private pool(name: string, where: string): Chooser {
    const c = this.pools.get(name);
    if (!c) throw new Error(`${where} names unknown pool '${name}'`);
    return c;
  }

  /** A table now holds `addresses`: a later incremental compile that adds one copies the set first. */
  seal(): void {
    this.sealed = true;
  }

  /** Choosers are shared per pool, so every route using a pool advances the same rotation. */
  upstream(u: Upstream, where: string): Chooser {
    if (typeof u === "string") {
      if (!looksLikeAddress(u)) return this.pool(u, where);
      const known = this.direct.get(u);
      if (known) return known;
      const target = toTarget(u);
      if (this.sealed && !this.addresses.has(target.key)) {
        this.addresses = new Set(this.addresses);
        this.sealed = false;
      }
      this.addresses.add(target.key);
      const only = resolution(target.key, target, undefined, undefined);
      const c = () => only;
      this.direct.set(u, c);
      return c;
    }
    // Weight 0 keeps a pool named in the split (ready for a shift) while it takes no traffic.
    const entries = Object.entries(u.split).filter(([, w]) => w > 0);
    if (entries.length === 0) throw new Error(`${where} has a split with no positive weight`);
    const choosers = entries.map(([name]) => this.pool(name, where));
    if (choosers.length === 1) return choosers[0] as Chooser;
    const cumulative: number[] = [];
    let sum = 0;
    for (const [, w] of entries) cumulative.push((sum += w));
    const random = this.random;
    return () => {
      const r = random() * sum;
      let i = 0;
      while (i < cumulative.length - 1 && r >= (cumulative[i] as number)) i++;
      return (choosers[i] as Chooser)();
    };
  }
}

// Units of work between chances to yield: small enough that a slice overruns by microseconds.
const YIELD_EVERY = 64;

/**
 * Builds the table step by step, yielding (a bare `yield`) every YIELD_EVERY pools or routes so a
 * driver can give the event loop a turn: a 10k-route table takes tens of milliseconds to build.
 */
function* compileSteps(state: State, revision: number, opts: CompileOptions): Generator<void, RouteTable> {
  const c = new Compiler(opts.random ?? Math.random, opts.health ?? new HealthRegistry());
  let n = 0;
  for (const [name, pool] of Object.entries(state.pools)) {
    c.addPool(name, pool);
    if (++n % YIELD_EVERY === 0) yield;
  }
  const wildcards = new Map<string, CompiledRoute>();

  // for-in rather than Object.entries: entries of 10k routes is one 3–6 ms allocation of 10k pairs,
  // longer than a whole slice; for-in walks the keys without materialising pairs.
  // The exact hosts go into a persistent map, so a later one-route change copies one shard of it
  // (patchTable). When the state's routes are plain Dicts (a snapshot), their persistent form is
  // built on the same walk and handed to applyOps (adoptRoutes), for the same reason.
  const routes = state.routes;
  const count = shardedOf(routes)?.size ?? Object.keys(routes).length;
  const exactEdit: ShardedEdit<CompiledRoute> = ShardedMap.empty<CompiledRoute>(count).edit();
  const raw = shardedOf(routes) === undefined ? ShardedMap.empty<Route>(count).edit() : undefined;
  const add = (host: string, route: Route) => {
    const hash = hashKey(host);
    raw?.set(host, route, hash);
    const compiled = compileRoute(c, host, route);
    if (isWildcard(host)) wildcards.set(host.slice(2), compiled);
    else exactEdit.set(host, compiled, hash);
  };
  const persistent = shardedOf(routes);
  if (persistent !== undefined) {
    // Routes applyOps made (a pool or default change): walked in their map, not through the Dict view.
    for (const [host, route] of persistent.entries()) {
      if (++n % YIELD_EVERY === 0) yield;
      add(host, route);
    }
  } else {
    for (const host in routes) {
      if (++n % YIELD_EVERY === 0) yield;
      add(host, routes[host] as Route);
    }
  }
  if (raw !== undefined) adoptRoutes(state, raw.done());
  const fallback: Chooser = state.defaultUpstream === null ? () => NO_ROUTE : c.upstream(state.defaultUpstream, "defaultUpstream");
  return makeTable({ revision, compiler: c, exact: exactEdit.done(), wildcards, fallback, poolCount: Object.keys(state.pools).length });
}

/** One route's compiled form; throws when it names what the compiler does not know. */
export function compileRoute(c: Compiler, host: string, route: Route): CompiledRoute {
  const where = `route '${host}'`;
  if (route.rules !== undefined) {
    const rules = route.rules
      .map((r) => ({ prefix: r.path, choose: c.upstream(r.upstream, `${where} rule '${r.path}'`) }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
    return { host, rules };
  }
  if (route.upstream !== undefined) return { host, rules: undefined, choose: c.upstream(route.upstream, where) };
  throw new Error(`${where} has neither upstream nor rules`);
}

/** What a table is made of; kept (tables.get) so the next change can reuse every part it does not touch. */
export interface TableParts {
  readonly revision: number;
  readonly compiler: Compiler;
  readonly exact: ShardedMap<CompiledRoute>;
  /** Keyed by the suffix after "*." so a lookup walks the request host's label suffixes; copied on change (few). */
  readonly wildcards: ReadonlyMap<string, CompiledRoute>;
  readonly fallback: Chooser;
  readonly poolCount: number;
}

const tables = new WeakMap<RouteTable, TableParts>();
export const partsOf = (t: RouteTable): TableParts | undefined => tables.get(t);

export function makeTable(parts: TableParts): RouteTable {
  const { exact, wildcards, fallback } = parts;
  const findRoute = (host: string): CompiledRoute | undefined => {
    const hit = exact.get(host);
    if (hit !== undefined || wildcards.size === 0) return hit;
    // Longest suffix first, and never the whole host: `*.example.com` is not `example.com`.
    for (let dot = host.indexOf("."); dot >= 0; dot = host.indexOf(".", dot + 1)) {
      const w = wildcards.get(host.slice(dot + 1));
      if (w !== undefined) return w;
    }
    return undefined;
  };
  parts.compiler.seal();
  const table: RouteTable = Object.freeze({
    revision: parts.revision,
    routeCount: exact.size + wildcards.size,
    poolCount: parts.poolCount,
    addresses: parts.compiler.addresses,
    pools: parts.compiler.balancers,
    resolve(host: string, path: string, seen?: RouteSeen): Resolution {
      const route = findRoute(host);
      if (seen !== undefined) seen.route = route === undefined ? "" : route.host;
      if (route === undefined) return fallback();
      if (route.rules === undefined) return route.choose();
      for (const rule of route.rules) if (path.startsWith(rule.prefix)) return rule.choose();
      return fallback();
    },
  });
  tables.set(table, parts);
  return table;
}

export function compileTable(state: State, revision: number, opts: CompileOptions = {}): RouteTable {
  const steps = compileSteps(state, revision, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** compileTable without blocking the event loop for more than about `slice` (a Slicer). */
export async function compileTableCooperative(state: State, revision: number, slice: { tick(): Promise<void> }, opts: CompileOptions = {}): Promise<RouteTable> {
  const steps = compileSteps(state, revision, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await slice.tick();
  }
}
