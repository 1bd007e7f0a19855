import { ChangeMessage, EMPTY_STATE, applyOps, classify, digestOf, type State } from "@switchyard/shared";
import type { Held, Rejection, SyncDeps, SyncStatus } from "./sync-types.js";

export type { Held, Rejection, SyncDeps, SyncLink, SyncStatus } from "./sync-types.js";

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
 * Lineage: (epoch, revision) names a table. A message, log entry or snapshot of another epoch is
 * never applied on top of ours: another epoch means a full snapshot. An uninitialised store (no
 * epoch: Redis restarted empty or flushed) never replaces a lineage's table; the table is offered
 * for a restore instead (onStoreLost). The watchdog (checkMs) notices both with no write happening.
 *
 * Invariants: nothing is installed unless it validated; the table keeps serving whatever happens here.
 */
export class SyncEngine {
  private revision = 0;
  private epoch: string | null = null;
  private source: "disk" | "redis" | null = null;
  private check: NodeJS.Timeout | undefined;
  private checking = false;
  private appliedAt: number | null = null;
  private state: State | null = null;
  private lastError: string | null = null;
  private initialized = false;
  private buffer: ChangeMessage[] = [];
  private chain: Promise<void> = Promise.resolve();
  private resyncQueued = false;
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
    this.check = setInterval(() => void this.watch(), this.deps.checkMs);
    this.check.unref();
  }

  /**
   * Installs the last good table from disk before Redis answers (it serves at once); Redis then
   * takes over through the usual checks: same lineage and revision, a catch-up, or a snapshot.
   */
  async seed(held: Held): Promise<void> {
    await this.deps.install(held.revision, held.state);
    Object.assign(this, { revision: held.revision, epoch: held.epoch, state: held.state, initialized: true, source: "disk" });
    this.appliedAt = Date.now();
  }

  /** The watchdog's lineage check (see SyncDeps.checkMs); cheap: one MGET. */
  private async watch(): Promise<void> {
    if (!this.deps.link.connected || this.checking || !this.initialized) return;
    this.checking = true;
    try {
      const head = await this.deps.reader.head();
      if (head.epoch !== this.epoch || head.revision !== this.revision) this.resync();
    } catch {
      // The link's own watchdog reports an unreachable Redis.
    } finally {
      this.checking = false;
    }
  }

  /** Stops listening to the link; the table installed last keeps serving. */
  stop(): void {
    clearInterval(this.retry);
    clearInterval(this.check);
    this.deps.link.off("message", this.onRaw);
    this.deps.link.off("up", this.onUp);
  }

  status(): SyncStatus {
    const { link } = this.deps;
    return {
      epoch: this.epoch,
      revision: this.revision,
      source: this.source,
      appliedAt: this.appliedAt,
      initialized: this.initialized,
      redis: link.connected ? "connected" : "disconnected",
      lastError: link.problem ?? this.lastError,
      rejected: this.rejected,
    };
  }

  /** The state of the table served (null before any): for its digest. */
  heldState(): State | null {
    return this.state;
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
    // Another lineage: its revision numbers say nothing about our table, so never apply on top.
    if (msg.epoch !== this.epoch) {
      this.deps.log.warn({ ours: this.epoch, theirs: msg.epoch, rev: msg.rev }, "change from another lineage; loading a snapshot");
      return this.loadSnapshot();
    }
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
      await this.install(last.rev, next, last.epoch);
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
    // A table from disk is confirmed by loading Redis's state, never by its revision number alone:
    // Redis may hold an entry that does not load (then the agent says so and keeps its table).
    if (this.source === "disk") return this.loadSnapshot();
    const r = await this.deps.reader.changesSince(this.revision, this.epoch);
    if (r.kind === "current") {
      this.lastError = null; // same lineage and revision as Redis (say, just restored from our offer)
      return;
    }
    if (r.kind === "other_epoch") return this.loadSnapshot();
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
    if (snap.epoch === null && this.epoch !== null && this.state !== null) {
      // Uninitialised store (restarted empty, flushed) and we hold a lineage's table: keep serving
      // it and offer it for the restore; never adopt the empty store, never apply its writes.
      this.fail(`the store is uninitialised (Redis restarted empty or was flushed); serving epoch ${this.epoch} revision ${this.revision} and offering it for a restore`);
      this.deps.onStoreLost?.({ epoch: this.epoch, revision: this.revision, state: this.state });
      return;
    }
    if (snap.epoch !== this.epoch) {
      if (this.initialized) this.deps.log.warn({ from: this.epoch, to: snap.epoch, revision: snap.revision }, "the store is on another lineage; adopting its state");
    } else if (snap.revision < this.revision) {
      // Same lineage, fewer revisions: a failover that lost acknowledged writes. Redis is the truth.
      this.deps.log.warn({ from: this.revision, to: snap.revision }, "Redis went backwards; adopting its state");
    } else if (snap.revision === this.revision && this.initialized && this.state !== null) {
      // A table from disk at Redis's (epoch, revision) is confirmed once Redis's state loads and
      // matches; only then is it proven (onApplied) and reported as from Redis.
      const fromDisk = this.source === "disk";
      if (!fromDisk || digestOf(snap.state) === digestOf(this.state)) {
        this.source = "redis";
        this.lastError = null;
        if (fromDisk) this.deps.onApplied(this.revision, (this.appliedAt = Date.now()), this.epoch, this.state);
        return;
      }
      this.deps.log.warn({ epoch: this.epoch, revision: this.revision }, "the table on disk differs from Redis at the same revision; adopting Redis's");
    }
    try {
      await this.install(snap.revision, snap.state, snap.epoch);
    } catch (err) {
      const reason = `snapshot at revision ${snap.revision} rejected: ${message(err)}`;
      this.fail(reason);
      this.reject(snap.revision, reason);
    }
  }

  private async install(revision: number, state: State, epoch: string | null): Promise<void> {
    await this.deps.install(revision, state);
    // A nack holds until that revision (or a later one) is applied, or Redis starts another history.
    if (this.rejected && (revision >= this.rejected.revision || revision < this.revision || epoch !== this.epoch)) {
      this.rejected = null;
      this.deps.onRejection?.(null);
    }
    this.revision = revision;
    this.epoch = epoch;
    this.state = state;
    this.source = "redis";
    this.appliedAt = Date.now();
    this.initialized = true;
    this.lastError = null;
    this.deps.onApplied(revision, this.appliedAt, epoch, state);
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
