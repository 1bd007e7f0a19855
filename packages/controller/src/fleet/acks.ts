import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { AckMessage, type Keys } from "@switchyard/shared";
import { listAgents } from "./agents.js";
import type { ApplyTimer } from "./apply-timer.js";

export interface WaitResult {
  revision: number;
  complete: boolean;
  applied: { id: string; appliedAt: string }[];
  missing: string[];
}

// Acks are pub/sub hints; heartbeat records are the truth. While waiting, the records are re-read
// this often, so an ack lost with a subscription costs at most this much extra latency.
const RECORD_POLL_MS = 200;
const SUBSCRIBE_GRACE_MS = 1000;

/**
 * Tracks one write's acknowledgements. It exists before the write is sent, so an ack that races
 * the write's own reply is already recorded: acks are kept per agent (highest revision) until the
 * revision is known.
 */
export class PendingAcks {
  private readonly best = new Map<string, { revision: number; appliedAt: number }>();
  private revision = Infinity;
  /** The lineage of the awaited revision: acks and records of any other lineage never count. */
  private epoch: string | null | undefined;
  /** Acks heard before the lineage was known, checked once it is. */
  private early: { agent: string; epoch: string | null; revision: number; appliedAt: number }[] = [];
  private wake: (() => void) | undefined;

  constructor(
    readonly fleet: readonly string[],
    private readonly release: (p: PendingAcks) => void,
    private readonly cmd: Redis,
    private readonly keys: Keys,
  ) {}

  saw(agent: string, revision: number, appliedAt: number, epoch: string | null): void {
    if (this.epoch === undefined) {
      this.early.push({ agent, epoch, revision, appliedAt });
      return;
    }
    if (epoch !== this.epoch) return;
    const prev = this.best.get(agent);
    if (!prev || revision > prev.revision) this.best.set(agent, { revision, appliedAt });
    if (this.wake && this.missing().length === 0) this.wake();
  }

  private missing(): string[] {
    return this.fleet.filter((id) => (this.best.get(id)?.revision ?? -1) < this.revision);
  }

  cancel(): void {
    this.release(this);
  }

  /** `epoch` is the write's lineage; when not given, the store's current one is read. */
  async wait(revision: number, timeoutMs: number, epoch?: string | null): Promise<WaitResult> {
    this.revision = revision;
    this.epoch = epoch !== undefined ? epoch : await this.cmd.get(this.keys.epoch).catch(() => null);
    for (const a of this.early.splice(0)) this.saw(a.agent, a.revision, a.appliedAt, a.epoch);
    const finished = new Promise<void>((resolve) => (this.wake = resolve));
    const timeout = setTimeout(() => this.wake?.(), timeoutMs);
    const poll = async () => {
      try {
        const [agents, current] = await Promise.all([listAgents(this.cmd, this.keys), this.cmd.get(this.keys.rev)]);
        for (const rec of agents) {
          // Only records of the write's lineage count (saw checks the epoch); a record ahead of
          // Redis is one more sign of a table from another history.
          if (rec.appliedAt !== null && rec.revision <= Number(current ?? 0)) this.saw(rec.id, rec.revision, rec.appliedAt, rec.epoch);
        }
      } catch {
        // Redis trouble: the deadline still ends the wait.
      }
    };
    const poller = setInterval(() => void poll(), RECORD_POLL_MS);
    try {
      if (this.missing().length > 0) await poll();
      if (this.missing().length > 0) await finished;
    } finally {
      clearTimeout(timeout);
      clearInterval(poller);
      this.release(this);
    }
    const missing = this.missing();
    const applied = this.fleet
      .filter((id) => !missing.includes(id))
      .map((id) => ({ id, appliedAt: new Date(this.best.get(id)?.appliedAt ?? 0).toISOString() }));
    return { revision, complete: missing.length === 0, applied, missing };
  }
}

/**
 * Waits for the fleet to apply revisions. One subscriber connection serves every waiter. The
 * agents to wait for are those live before the write, so one that joins later cannot hold the
 * answer up, and one that dies shows up in `missing`. Both connections are handed in (see
 * redis.ts for their roles) and closed by their owner, not here.
 */
export class AckWatcher {
  private readonly pending = new Set<PendingAcks>();
  private readonly subscribed: Promise<unknown>;

  constructor(
    private readonly sub: Redis,
    private readonly cmd: Redis,
    private readonly keys: Keys,
    private readonly log: Logger,
    /** Times write -> ack for the metrics; it needs the changes channel too. */
    private readonly timer?: ApplyTimer,
  ) {
    this.sub.on("message", (ch: string, raw: string) => (ch === keys.changes ? this.onChange(raw) : this.onAck(raw)));
    let first: () => void;
    this.subscribed = new Promise<void>((resolve) => (first = resolve));
    // SUBSCRIBE only once the connection is ready, and again after every reconnect: issued earlier,
    // it races ioredis's ready check (INFO is refused in subscriber mode) and the link drops.
    const subscribe = () => {
      const channels = this.timer ? [keys.acks, keys.changes] : [keys.acks];
      this.sub.subscribe(...channels).then(() => first(), (err: Error) => this.log.warn({ err: err.message }, "ack subscribe failed"));
    };
    this.sub.on("ready", subscribe);
    if (this.sub.status === "ready") subscribe();
  }

  private onAck(raw: string): void {
    let ack: AckMessage;
    try {
      ack = AckMessage.parse(JSON.parse(raw));
    } catch {
      return;
    }
    this.timer?.acked(ack.agent, ack.revision);
    for (const p of this.pending) p.saw(ack.agent, ack.revision, ack.appliedAt, ack.epoch);
  }

  private onChange(raw: string): void {
    try {
      const rev = (JSON.parse(raw) as { rev?: unknown }).rev;
      if (typeof rev === "number" && Number.isSafeInteger(rev)) this.timer?.changed(rev);
    } catch {
      // Not a change message: nothing to time.
    }
  }

  /** Lists the live fleet and starts collecting acks; call before the write. */
  async begin(): Promise<PendingAcks> {
    // Right after start the subscription may still be in flight; records cover it if it takes long.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.subscribed, new Promise((r) => (timer = setTimeout(r, SUBSCRIBE_GRACE_MS)))]);
    clearTimeout(timer);
    const fleet = (await listAgents(this.cmd, this.keys)).map((a) => a.id);
    const p = new PendingAcks(fleet, (x) => this.pending.delete(x), this.cmd, this.keys);
    this.pending.add(p);
    return p;
  }

  /** Stops serving waiters; the connections stay their owner's to close. */
  close(): void {
    this.pending.clear();
    this.sub.removeAllListeners("message");
  }
}
