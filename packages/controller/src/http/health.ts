import { Router } from "express";
import type { Redis } from "ioredis";
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
      res.status(503).json({ error: "not_ready", message: "Redis is not answering" });
    } finally {
      clearTimeout(timer);
    }
  });
  return r;
}
