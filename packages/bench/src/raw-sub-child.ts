import { Redis } from "ioredis";

/**
 * The baseline for "propagation ÷ raw Redis pub/sub": COUNT plain ioredis subscribers in one
 * process, each with its own subscriber and command connection (as an agent has), answering every
 * message on CHANNEL with a PUBLISH of {agent, revision, appliedAt} on ACKS. No parsing beyond the
 * revision, no table, no proof script: what any pub/sub fan-out costs before Switchyard adds
 * anything. Prints {"ready":COUNT} once every subscription is confirmed; SIGTERM stops them.
 */
const env = process.env;
const count = Number(env.COUNT ?? 1);
const channel = env.CHANNEL ?? "raw";
const acks = env.ACKS ?? "raw-acks";
const url = env.REDIS_URL ?? "";
const conns: Redis[] = [];

const opts = { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true };
for (let i = 0; i < count; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, count - i) }, async (_, j) => {
    const id = `${env.ID_BASE ?? "raw"}-${i + j}`;
    const sub = new Redis(url, opts);
    const cmd = new Redis(url, opts);
    for (const c of [sub, cmd]) {
      c.on("error", () => undefined);
      conns.push(c);
    }
    await Promise.all([sub.connect(), cmd.connect()]);
    sub.on("message", (_ch: string, raw: string) => {
      const revision = Number(raw);
      void cmd.publish(acks, JSON.stringify({ agent: id, revision, appliedAt: Date.now() })).catch(() => undefined);
    });
    await sub.subscribe(channel);
  }));
}
console.log(JSON.stringify({ ready: count }));

process.on("SIGTERM", () => {
  for (const c of conns) c.disconnect();
  process.exit(0);
});
