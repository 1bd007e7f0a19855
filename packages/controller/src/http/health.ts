import { Router } from "express";
import type { Redis } from "ioredis";
import { connectionCause } from "../redis.js";
import { accepts } from "./query.js";

const READY_TIMEOUT_MS = 1000;

/** Unauthenticated probes. Ready means Redis answered a PING within a second. */
export function healthApi({ redis }: { redis: Redis }): Router {
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
      res.json({ status: "ready" });
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
