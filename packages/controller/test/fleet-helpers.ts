import type { Redis } from "ioredis";
import { ChangeMessage, PROTOCOL_VERSION, type Keys } from "@switchyard/shared";
import { readyClient } from "@switchyard/testkit";

/** A stand-in agent's heartbeat record and index entry, written over plain Redis. */
export async function heartbeat(redis: Redis, keys: Keys, id: string, revision: number, ttlMs = 5000, epoch?: string | null): Promise<void> {
  const now = Date.now();
  // On the store's current lineage unless told otherwise.
  const rec = { id, epoch: epoch === undefined ? await redis.get(keys.epoch) : epoch, revision, appliedAt: now, startedAt: now - 1000, version: "test", address: "127.0.0.2:8080", seenAt: now };
  await redis.multi().set(keys.agent(id), JSON.stringify(rec), "PX", ttlMs).zadd(keys.agents, now + ttlMs, id).exec();
}

/**
 * A stand-in agent speaking the protocol on connections of its own: acks every change on the
 * channel after `delayMs`, as a live agent would. Once stopped it sends nothing more, so a delayed
 * ack never outlives the test's connections.
 */
export async function fakeAgent(url: string, keys: Keys, id: string, delayMs: number): Promise<{ disconnect(): void }> {
  const [sub, cmd] = await Promise.all([readyClient(url), readyClient(url)]);
  let stopped = false;
  await heartbeat(cmd, keys, id, 0);
  sub.on("message", (_ch, raw) => {
    const { rev, epoch } = ChangeMessage.parse(JSON.parse(raw));
    // As a real agent does: rewrite the heartbeat record, then publish the ack.
    setTimeout(() => {
      if (stopped) return;
      heartbeat(cmd, keys, id, rev, 5000, epoch)
        .then(() => cmd.publish(keys.acks, JSON.stringify({ v: PROTOCOL_VERSION, agent: id, epoch, revision: rev, appliedAt: Date.now() })))
        .catch(() => undefined);
    }, delayMs);
  });
  await sub.subscribe(keys.changes);
  return {
    disconnect() {
      stopped = true;
      sub.disconnect();
      cmd.disconnect();
    },
  };
}
