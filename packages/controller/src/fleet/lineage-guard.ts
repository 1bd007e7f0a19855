import type { Logger } from "pino";
import type { Redis } from "ioredis";
import { bestOffer, type Keys, type StoreLineage, type StoreReader, type StoreWriter } from "@switchyard/shared";
import { listAgents } from "./agents.js";

export interface LineageGuardDeps {
  redis: Redis;
  keys: Keys;
  reader: StoreReader;
  writer: StoreWriter;
  lineage: StoreLineage;
  log: Logger;
  /** How often the store's lineage is checked. */
  intervalMs: number;
  /** After the first offer, wait this long for the rest of the fleet's offers before restoring the best. */
  gatherMs: number;
}

/**
 * Watches the store's lineage (keys.epoch) for the controller. While it is set, the writer is told
 * (so a store that later loses it is seen as lost, never as a fresh install). While it is absent
 * and agents offer their tables, it waits until every live agent offered, or `gatherMs`, then restores the
 * newest (store-restore.lua: only on an empty store, so of several controllers one restore wins).
 * With no offers it does nothing: a fresh install initialises on its first write, and a lost store
 * nobody can restore waits for `POST /v1/store/init?confirm=true`.
 */
export class LineageGuard {
  private timer: NodeJS.Timeout | undefined;
  private firstOfferAt: number | undefined;
  private busy = false;

  constructor(private readonly deps: LineageGuardDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One check; exported for tests. Never throws (Redis trouble is the health checks' to report). */
  async tick(now = Date.now()): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const head = await this.deps.reader.head();
      if (head.epoch !== null) {
        this.deps.writer.noteEpoch(head.epoch);
        this.firstOfferAt = undefined;
        return;
      }
      const offers = await this.deps.lineage.offers();
      const best = bestOffer(offers);
      if (!best) return;
      this.firstOfferAt ??= now;
      // Every live agent has offered (heartbeats come back with the agents' reconnects): no need to
      // wait out the window; otherwise the window lets the rest of the fleet offer.
      const live = await listAgents(this.deps.redis, this.deps.keys, now);
      const all = live.length > 0 && live.every((a) => offers.some((o) => o.agent === a.id));
      if (!all && now - this.firstOfferAt < this.deps.gatherMs) return;
      const result = await this.deps.lineage.restore(best);
      this.firstOfferAt = undefined;
      if (!result.ok) return; // another controller restored first, or someone wrote: the next tick sees it
      this.deps.writer.noteEpoch(result.epoch);
      this.deps.log.warn({ agent: best.agent, epoch: best.epoch, revision: best.revision, offers: offers.length }, "store was uninitialised; restored the newest table the agents hold");
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, "store lineage check failed");
    } finally {
      this.busy = false;
    }
  }
}
