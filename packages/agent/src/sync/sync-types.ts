import type { Logger } from "pino";
import type { Slicer, State, StoreReader } from "@switchyard/shared";

/** What sync needs of the link (sync/link.ts RedisLink): its change messages, its 'up' transitions, its health. */
export interface SyncLink {
  readonly connected: boolean;
  /** Why Redis cannot be reached right now, or null. */
  readonly problem: string | null;
  on(event: "message", listener: (raw: string) => void): unknown;
  on(event: "up", listener: () => void): unknown;
  off(event: "message", listener: (raw: string) => void): unknown;
  off(event: "up", listener: () => void): unknown;
}

export interface SyncDeps {
  /** Change messages and reconnects come from here; subscribed to in start(). */
  link: SyncLink;
  /** Snapshot and change-log reads (through the link's command connection). */
  reader: StoreReader;
  log: Logger;
  /** Builds and swaps the serving table (serve/holder.ts); throws if the state cannot be compiled (nothing is swapped then). */
  install(revision: number, state: State): void | Promise<void>;
  /** Called after every install, in revision order (proof of apply, a worker's report, the disk copy). */
  onApplied(revision: number, appliedAt: number, epoch: string | null, state: State): void;
  /**
   * Called (again on every watchdog check) while the store is uninitialised and this agent holds a
   * lineage's table: offer it for a restore (shared store/lineage.ts).
   */
  onStoreLost?(held: Held): void;
  /** Called when the nack changes: a revision this agent refused, or null once it is cleared. */
  onRejection?(rejection: Rejection | null): void;
  /** The cooperative budget snapshot reads share with `install` (see CooperativeOptions.slicer). */
  slicer?: Slicer;
  /** While the last sync attempt failed and the link is up, retry this often (recovery, not polling). */
  retryMs: number;
  /**
   * The watchdog reads the store's (epoch, revision) this often and resyncs when it differs from
   * ours: a FLUSHALL, or a restart no reconnect revealed, is noticed with no write happening.
   */
  checkMs: number;
}

/** The table this agent holds, by lineage and revision. */
export interface Held {
  epoch: string;
  revision: number;
  state: State;
}

/** A revision this agent refused (did not validate or compile) and why: a nack. */
export interface Rejection {
  revision: number;
  reason: string;
}

export interface SyncStatus {
  /** The lineage of the table served (null: none yet, or an uninitialised store's empty table). */
  epoch: string | null;
  revision: number;
  /** Where the table came from: the last good table on disk, or Redis (null before any). */
  source: "disk" | "redis" | null;
  appliedAt: number | null;
  initialized: boolean;
  redis: "connected" | "disconnected";
  /** Why Redis cannot be reached, else why the last sync attempt failed; null when all is well. */
  lastError: string | null;
  /** The newest revision refused and not applied since (or left behind by a Redis that went backwards). */
  rejected: Rejection | null;
}

