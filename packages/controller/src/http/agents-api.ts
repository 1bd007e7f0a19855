import { Router } from "express";
import type { Redis } from "ioredis";
import type { Keys, StoreReader } from "@switchyard/shared";
import { listAgents } from "../fleet/agents.js";
import { methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The fleet as the controller knows it: live agents, what each applied, and how far behind it is. */
export function agentsApi({ redis, keys, reader }: { redis: Redis; keys: Keys; reader: StoreReader }): Router {
  const r = Router();
  r.route("/v1/agents")
    .get(accepts(), async (_req, res) => {
      const [agents, current] = await Promise.all([listAgents(redis, keys), reader.revision()]);
      res.json(
        agents.map((a) => ({
          id: a.id,
          revision: a.revision,
          lag: Math.max(0, current - a.revision),
          appliedAt: iso(a.appliedAt),
          lastSeen: iso(a.seenAt),
          startedAt: iso(a.startedAt),
          version: a.version,
          address: a.address,
          ...(a.workers ? { workers: a.workers } : {}),
        })),
      );
    })
    .all(methodNotAllowed(["GET"]));
  return r;
}
