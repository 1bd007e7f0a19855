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
      const [agents, head] = await Promise.all([listAgents(redis, keys), reader.head()]);
      res.json(
        agents.map((a) => ({
          id: a.id,
          epoch: a.epoch,
          revision: a.revision,
          // Lag counts revisions within one lineage: an agent with none yet lags by all of them, and
          // one on another lineage has no lag (null), it is simply not in sync.
          lag: a.epoch === head.epoch ? Math.max(0, head.revision - a.revision) : a.epoch === null ? head.revision : null,
          inSync: a.epoch === head.epoch && a.revision === head.revision,
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
