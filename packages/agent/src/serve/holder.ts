import type { Logger } from "pino";
import { derivationOf, type Slicer, type State } from "@switchyard/shared";
import type { HealthRegistry } from "./health/registry.js";
import { compileTableCooperative, type RouteTable } from "./table.js";
import { patchTable } from "./table-patch.js";

/** What the holder needs of the forwarding engine: forgetting targets a new table no longer names. */
export interface TargetRetainer {
  retain(addresses: ReadonlySet<string>): void;
}

/**
 * The serving route table: the one mutable reference of the serve flow, and its swap (traefik's
 * HandlerSwitcher). Readers take `current` once per request (or per connection head) and use that
 * table to the end, so a swap never changes a request's routing halfway.
 *
 * Invariants: `current` is replaced whole, never mutated; it is undefined only until the first
 * install; a table is swapped in only after it compiled (a failed compile leaves the old one).
 */
export class TableHolder {
  private table: RouteTable | undefined;
  /** The state `table` was compiled from: a state derived from it by route changes only is patched in. */
  private source: State | undefined;

  constructor(
    private readonly engine: TargetRetainer,
    /**
     * The cooperative budget shared with sync's snapshot reads: one reload (read, then compile)
     * does ~`slice` ms of work at a time, so requests keep flowing on the old table meanwhile.
     */
    private readonly slicer: Slicer,
    private readonly log: Logger,
    /** Per-target health across tables: compiles look targets up in it, swaps prune it. */
    private readonly health?: HealthRegistry,
    /** Told of every swapped-in table (the active health checker). */
    private readonly onSwap?: (table: RouteTable) => void,
  ) {}

  get current(): RouteTable | undefined {
    return this.table;
  }

  /** Serves `next` from now on; keep-alive pools of targets it no longer names are closed, not leaked. */
  swap(next: RouteTable): void {
    this.table = next;
    this.engine.retain(next.addresses);
    this.health?.retain(next.pools);
    this.onSwap?.(next);
  }

  /**
   * Sync's install: builds the table for `state` beside the serving one, then swaps it in with one
   * assignment. A state that applyOps made from the serving table's state by route changes alone
   * is patched (table-patch.ts: only those hosts recompiled, the rest shared); anything else (a
   * snapshot, a pool or default change) compiles in slices. Throws (swapping nothing) if the state
   * does not compile.
   */
  readonly install = async (revision: number, state: State): Promise<void> => {
    const prev = this.table;
    const d = prev !== undefined && this.source !== undefined ? derivationOf(state, this.source) : undefined;
    const patched = prev !== undefined && d !== undefined && !d.wide ? patchTable(prev, state, d.hosts, revision) : undefined;
    const next = patched ?? (await compileTableCooperative(state, revision, this.slicer, this.health ? { health: this.health } : {}));
    this.swap(next);
    this.source = state;
    this.log.info({ revision, routes: next.routeCount, pools: next.poolCount }, patched ? "route table patched" : "route table applied");
  };
}
