import type { Redis } from "ioredis";
import { AgentRecord, type Keys } from "@switchyard/shared";

const LiveRecord = AgentRecord.extend({ seenAt: AgentRecord.shape.startedAt });
export type LiveAgent = AgentRecord & { seenAt: number };

/**
 * Live agents: ids in the `agents` sorted set whose heartbeat has not expired, joined with their
 * records. An id whose record already expired (TTL) is not live, whatever the index says.
 */
export async function listAgents(redis: Redis, keys: Keys, now = Date.now()): Promise<LiveAgent[]> {
  const ids = await redis.zrangebyscore(keys.agents, now, "+inf");
  if (ids.length === 0) return [];
  const raws = await redis.mget(ids.map((id) => keys.agent(id)));
  const out: LiveAgent[] = [];
  for (const raw of raws) {
    if (raw === null) continue;
    try {
      const parsed = LiveRecord.safeParse(JSON.parse(raw));
      if (parsed.success) out.push(parsed.data);
    } catch {
      // A record that is not JSON is not a live agent.
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
