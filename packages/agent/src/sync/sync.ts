import type { Logger } from "pino";
import {
  ChangeMessage, EMPTY_STATE, applyOps, classify, isEmptyState, type Slicer, type State, type StoreReader,
} from "@switchyard/shared";

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
  /** Called after every install, in revision order (proof of apply, a worker's report). */
  onApplied(revision: number, appliedAt: number): void;
  /** Called when the nack changes: a revision this agent refused, or null once it is cleared. */
  onRejection?(rejection: Rejection | null): void;
  /** The cooperative budget snapshot reads share with `install` (see CooperativeOptions.slicer). */
  slicer?: Slicer;
  /** While the last sync attempt failed and the link is up, retry this often (recovery, not polling). */
  retryMs: number;
}

/** A revision this agent refused (did not validate or compile) and why: a nack. */
export interface Rejection {
  revision: number;
  reason: string;
}

export interface SyncStatus {
  revision: number;
  appliedAt: number | null;
  initialized: boolean;
  redis: "connected" | "disconnected";
  /** Why Redis cannot be reached, else why the last sync attempt failed; null when all is well. */
  lastError: string | null;
  /** The newest revision refused and not applied since (or left behind by a Redis that went backwards). */
  rejected: Rejection | null;
}

const MAX_BUFFERED = 10_000;
const MAX_REASON = 500;
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * The push flow: link -> sync -> table holder swap (link.ts -> sync.ts -> serve/holder.ts).
 *
 * Every piece of work runs on one promise chain, so applies happen strictly in order and a
 * resync never interleaves with a message. Before the first table is installed, messages are
 * buffered and applied in revision order once the snapshot is in (subscribe, snapshot, buffer).
 * After that, each message is next (apply), stale (ignore) or a gap (catch up from the change
 * log, or from a snapshot when the log no longer reaches back).
 *
 * start() subscribes to the link: every change message goes to onRaw, and every 'up' (the first
 * connection and each reconnect) to resync, since messages published while disconnected are gone.
 *
 * Invariants: nothing is installed unless it validated; a snapshot of an empty Redis never
 * replaces a non-empty table (Redis restarted empty); the table keeps serving whatever happens here.
 */
export class SyncEngine {
  private revision = 0;
  private appliedAt: number | null = null;
  private state: State | null = null;
  private lastError: string | null = null;
  private initialized = false;
  private buffer: ChangeMessage[] = [];
  private chain: Promise<void> = Promise.resolve();
  private resyncQueued = false;
  /** Redis went backwards (restart, failover): adopt the next snapshot that routes anything. */
  private diverged = false;
  private retry: NodeJS.Timeout | undefined;
  private rejected: Rejection | null = null;

  constructor(private readonly deps: SyncDeps) {}

  /** Subscribes to the link (start the link after this, so its first 'up' is heard). */
  start(): void {
    if (this.retry) return;
    this.deps.link.on("message", this.onRaw);
    this.deps.link.on("up", this.onUp);
    this.retry = setInterval(() => {
      if (this.deps.link.connected && this.lastError !== null) this.resync();
    }, this.deps.retryMs);
    this.retry.unref();
  }

  /** Stops listening to the link; the table installed last keeps serving. */
  stop(): void {
    clearInterval(this.retry);
    this.deps.link.off("message", this.onRaw);
    this.deps.link.off("up", this.onUp);
  }

  status(): SyncStatus {
    const { link } = this.deps;
    return {
      revision: this.revision,
      appliedAt: this.appliedAt,
      initialized: this.initialized,
      redis: link.connected ? "connected" : "disconnected",
      lastError: link.problem ?? this.lastError,
      rejected: this.rejected,
    };
  }

  private readonly onUp = (): void => this.resync();

  readonly onRaw = (raw: string): void => {
    let msg: ChangeMessage;
    try {
      msg = ChangeMessage.parse(JSON.parse(raw));
    } catch (err) {
      // An unreadable hint is not applied; the log or a snapshot tells what it should have said.
      this.fail(`invalid change message ignored: ${message(err).slice(0, 200)}`);
      this.resync();
      return;
    }
    if (!this.initialized) {
      // Bounded: if the first snapshot keeps failing, older hints are dropped; the snapshot that
      // finally loads (and the log after it) covers whatever they said.
      if (this.buffer.length >= MAX_BUFFERED) this.buffer.shift();
      this.buffer.push(msg);
      return;
    }
    this.enqueue(() => this.handle(msg));
  };

  /** Catch up from wherever we are; called at start and after every reconnect. Coalesces. */
  resync(): void {
    if (this.resyncQueued) return;
    this.resyncQueued = true;
    this.enqueue(async () => {
      this.resyncQueued = false;
      if (!this.initialized) await this.initialize();
      else await this.catchUp();
    });
  }

  /** Resolves when all work queued so far is done (tests and shutdown). */
  idle(): Promise<void> {
    return this.chain;
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err) => {
      this.fail(`sync failed: ${message(err)}`);
    });
  }

  private async initialize(): Promise<void> {
    await this.loadSnapshot();
    if (!this.initialized) return;
    const buffered = this.buffer.sort((a, b) => a.rev - b.rev);
    this.buffer = [];
    for (const msg of buffered) await this.handle(msg);
  }

  private async handle(msg: ChangeMessage): Promise<void> {
    if (this.diverged) return this.loadSnapshot();
    switch (classify(this.revision, msg.rev)) {
      case "stale":
        return;
      case "next":
        return this.applyRun([msg]);
      case "gap":
        this.deps.log.info({ applied: this.revision, got: msg.rev }, "revision gap; catching up");
        return this.catchUp();
    }
  }

  /**
   * Applies contiguous changes to one copy and installs once: one table compile however many
   * revisions the run covers (1 000 missed changes on a 10k-route table took seconds one by one).
   * A run that does not apply to our state may still apply to the authoritative one: load it.
   */
  private async applyRun(run: ChangeMessage[]): Promise<void> {
    const last = run.at(-1);
    if (!last) return;
    try {
      const next = applyOps(this.state ?? EMPTY_STATE, run.flatMap((c) => c.ops));
      await this.install(last.rev, next);
    } catch (err) {
      const revs = run.length === 1 ? `revision ${last.rev}` : `revisions ${run[0]?.rev}-${last.rev}`;
      const reason = `${revs} rejected: ${message(err)}`;
      this.fail(reason);
      await this.loadSnapshot();
      // Not even the store's own state got us there: refuse the revision out loud.
      if (this.revision < last.rev) this.reject(last.rev, reason);
    }
  }

  private async catchUp(): Promise<void> {
    if (this.diverged) return this.loadSnapshot();
    const r = await this.deps.reader.changesSince(this.revision);
    if (r.kind === "current") return;
    if (r.kind === "snapshot_required") {
      this.deps.log.info({ applied: this.revision, reason: r.reason }, "loading a snapshot");
      return this.loadSnapshot();
    }
    return this.applyRun(r.changes.filter((c) => c.rev > this.revision));
  }

  private async loadSnapshot(): Promise<void> {
    let snap;
    try {
      // Read and validated in slices: a 10k-route snapshot must not stall the requests being served.
      snap = await this.deps.reader.snapshotCooperative(this.deps.slicer ? { slicer: this.deps.slicer } : {});
    } catch (err) {
      // Both invalid content and an unreachable Redis land here; the current table stays.
      this.fail(`snapshot not applied: ${message(err)}`);
      return;
    }
    const ours = this.state !== null && !isEmptyState(this.state);
    if (snap.revision < this.revision || this.diverged) {
      const routesSomething = snap.state.defaultUpstream !== null || Object.keys(snap.state.routes).length > 0;
      if (ours && !routesSomething) {
        this.diverged = true;
        this.fail(`Redis is at revision ${snap.revision} with no routes, behind applied ${this.revision} (restarted empty?); keeping the current table`);
        return;
      }
      if (snap.revision < this.revision) this.deps.log.warn({ from: this.revision, to: snap.revision }, "Redis went backwards; adopting its state");
      this.diverged = false;
    } else if (snap.revision === this.revision && this.initialized) {
      return;
    }
    try {
      await this.install(snap.revision, snap.state);
    } catch (err) {
      const reason = `snapshot at revision ${snap.revision} rejected: ${message(err)}`;
      this.fail(reason);
      this.reject(snap.revision, reason);
    }
  }

  private async install(revision: number, state: State): Promise<void> {
    await this.deps.install(revision, state);
    // A nack holds until that revision (or a later one) is applied, or Redis starts another history.
    if (this.rejected && (revision >= this.rejected.revision || revision < this.revision)) {
      this.rejected = null;
      this.deps.onRejection?.(null);
    }
    this.revision = revision;
    this.state = state;
    this.appliedAt = Date.now();
    this.initialized = true;
    this.lastError = null;
    this.deps.onApplied(revision, this.appliedAt);
  }

  /**
   * Keeps the newest refused revision: an older refusal says nothing a newer one does not, and the
   * first reason given for a revision stands (the snapshot's, when a run and then the snapshot fail).
   */
  private reject(revision: number, reason: string): void {
    if (this.rejected && this.rejected.revision >= revision) return;
    this.rejected = { revision, reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason };
    this.deps.onRejection?.(this.rejected);
  }

  private fail(error: string): void {
    this.lastError = error;
    this.deps.log.error({ applied: this.revision }, error);
  }
}
