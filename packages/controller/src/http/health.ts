import { Router } from "express";
import type { Redis } from "ioredis";
import { connectionCause } from "../redis.js";
import type { StoreGuard } from "../store/guard.js";
import { accepts } from "./query.js";

const READY_TIMEOUT_MS = 1000;

/**
 * Unauthenticated probes. Ready means Redis answered a PING within a second and the store can take
 * writes: not evicting, not full, no invalid entries (StoreGuard). A 503 says which, with
 * `error` not_ready (Redis not answering), eviction_policy, store_full or corrupt_state.
 */
export function healthApi({ redis, guard }: { redis: Redis; guard: StoreGuard }): Router {
  const r = Router();
  r.get("/healthz", accepts(), (_req, res) => {
    res.json({ status: "ok" });
  });
  r.get("/readyz", accepts(), async (_req, res) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([redis.ping(), timeout]);
      const problem = await Promise.race([guard.problem(), timeout]);
      if (problem) res.status(503).json({ error: problem.code, message: problem.message });
      else res.json({ status: "ready" });
    } catch {
      // The driver's cause (ECONNREFUSED, WRONGPASS, ...) when the connection has one.
      // Unauthenticated: the cause without Redis's address (the log has it).
      const cause = connectionCause(redis)?.replace(/\s*\[?[0-9a-fA-F.:]+\]?:\d+\b/g, "") ?? null;
      res.status(503).json({ error: "not_ready", message: `Redis is not answering${cause === null ? " within 1 s" : `: ${cause}`}` });
    } finally {
      clearTimeout(timer);
    }
  });
  return r;
}
