import { Router } from "express";
import type { Redis } from "ioredis";
import { PoolName, parseOrThrow, type Keys, type StoreReader } from "@switchyard/shared";
import { listAgents } from "../fleet/agents.js";
import { methodNotAllowed, notFound } from "./errors.js";
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

  // Each live agent's view of one pool's targets, from its heartbeat record (refreshed every second).
  r.route("/v1/pools/:name/health")
    .get(accepts(), async (req, res) => {
      const name = parseOrThrow(PoolName, req.params.name, "name");
      const [{ value }, agents] = await Promise.all([reader.entry("pool", name), listAgents(redis, keys)]);
      if (value === undefined) throw notFound(`pool '${name}'`);
      res.json(
        agents
          .filter((a) => a.health !== undefined)
          .map((a) => {
            const pool = a.health?.find((p) => p.pool === name);
            return {
              agent: a.id,
              panic: pool?.panic ?? false,
              targets: (pool?.targets ?? []).map((t) => ({ address: t.address, state: t.state, since: iso(t.since), lastError: t.lastError })),
            };
          }),
      );
    })
    .all(methodNotAllowed(["GET"]));
  return r;
}
