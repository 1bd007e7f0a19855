import type { Logger } from "pino";
import type { Slicer, State } from "@switchyard/shared";
import type { HealthRegistry } from "./health/registry.js";
import { compileTableCooperative, type RouteTable } from "./table.js";

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
   * Sync's install: compiles `state` in slices beside the serving table, then swaps it in with one
   * assignment. Throws (swapping nothing) if the state does not compile.
   */
  readonly install = async (revision: number, state: State): Promise<void> => {
    const next = await compileTableCooperative(state, revision, this.slicer, this.health ? { health: this.health } : {});
    this.swap(next);
    this.log.info({ revision, routes: next.routeCount, pools: next.poolCount }, "route table applied");
  };
}
