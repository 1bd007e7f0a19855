import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Keys } from "@switchyard/shared";
import { checkEntries, describeProblem, type EntryProblem } from "./entries.js";
import { evictionProblem, isFull, memoryInfo } from "./memory.js";

/** How long one entry check is reused: a bad entry written by hand is noticed by writes and /readyz within this. */
export const CHECK_TTL_MS = 1000;

export interface CheckResult {
  problems: EntryProblem[];
  /** Problems found; `problems` holds the first MAX_PROBLEMS. */
  total: number;
  checkedAt: number;
}

/** Writes are refused while Redis holds entries that fail validation (answered 503 corrupt_state naming them). */
export class CorruptEntries extends Error {
  constructor(readonly result: CheckResult) {
    const names = result.problems.slice(0, 5).map(describeProblem).join("; ");
    super(`Redis holds ${result.total} invalid entr${result.total === 1 ? "y" : "ies"}: ${names}${result.total > 5 ? "; ..." : ""}`);
    this.name = "CorruptEntries";
  }
}

/** Why the store cannot take writes, for /readyz: a code and an operator's message. */
export interface StoreProblem {
  code: "store_full" | "eviction_policy" | "corrupt_state";
  message: string;
}

/**
 * The store's health beyond "Redis answers": entries that fail validation, a full Redis and an
 * evicting one. Entry checks are shared by concurrent callers and reused for CHECK_TTL_MS, so a
 * write storm or a tight readiness probe costs one HGETALL pass per second, not one per request.
 * Invariant: a cached result is never older than CHECK_TTL_MS when a write consults it.
 */
export class StoreGuard {
  private last: CheckResult | undefined;
  private running: Promise<CheckResult> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly log: Logger,
    private readonly ttlMs = CHECK_TTL_MS,
  ) {}

  /** A fresh check (GET /v1/store/check); the cache takes it too. */
  async check(): Promise<CheckResult> {
    this.running ??= checkEntries(this.redis, this.keys)
      .then(({ problems, total }) => {
        const result = { problems, total, checkedAt: Date.now() };
        if (total > 0 && (this.last?.total ?? 0) === 0) this.log.error({ problems: problems.slice(0, 10).map(describeProblem), total }, "Redis holds invalid entries: writes refused until they are fixed");
        if (total === 0 && (this.last?.total ?? 0) > 0) this.log.info("Redis entries valid again: writes accepted");
        this.last = result;
        return result;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async recent(): Promise<CheckResult> {
    const last = this.last;
    return last !== undefined && Date.now() - last.checkedAt < this.ttlMs ? last : this.check();
  }

  /** Throws CorruptEntries while Redis holds invalid entries; a Redis failure throws as itself. */
  async assertWritable(): Promise<void> {
    const r = await this.recent();
    if (r.total > 0) throw new CorruptEntries(r);
  }

  /** The first reason the store is not ready, or null. */
  async problem(): Promise<StoreProblem | null> {
    const m = await memoryInfo(this.redis);
    const evicting = evictionProblem(m);
    if (evicting) return { code: "eviction_policy", message: evicting };
    if (isFull(m)) return { code: "store_full", message: `Redis is out of memory (${m.usedBytes} bytes used of maxmemory ${m.maxBytes}): writes are refused until memory is freed or maxmemory raised` };
    const r = await this.recent();
    // Unauthenticated: a count, not the keys; GET /v1/store/check (read token) names them.
    if (r.total > 0) return { code: "corrupt_state", message: `Redis holds ${r.total} invalid entr${r.total === 1 ? "y" : "ies"}; writes are refused until they are fixed; GET /v1/store/check lists them` };
    return null;
  }
}
