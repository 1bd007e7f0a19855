import { buildKeys } from "@switchyard/shared";
import { pushAgent } from "./push-agent.js";

/**
 * COUNT agents in one process for the propagation section: each the agent's push flow (link, sync,
 * proof) with its own command and subscriber connections, installing a compiled table and proving
 * every apply (ack + heartbeat) exactly as an agent process does. Prints {"ready":COUNT} once all
 * are started; SIGTERM stops them. READ_URL (a replica) takes the subscription and the reads.
 */
const env = process.env;
const count = Number(env.COUNT ?? 1);
const keys = buildKeys(env.PREFIX ?? "bench");
const url = env.REDIS_URL ?? "";

const runners: ReturnType<typeof pushAgent>[] = [];
for (let i = 0; i < count; i += 50) {
  // Batches of 50, so a thousand agents do not all connect and load a snapshot in the same instant.
  const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) => {
    const id = `${env.ID_BASE ?? "a"}-${i + j}`;
    const runner = pushAgent(url, keys, { id, ...(env.READ_URL ? { readUrl: env.READ_URL } : {}) });
    runners.push(runner);
    return runner.start();
  });
  await Promise.all(batch);
}
console.log(JSON.stringify({ ready: count }));

let stopping = false;
process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  const hard = setTimeout(() => process.exit(0), 3000);
  void Promise.all(runners.map((r) => r.stop().catch(() => undefined))).then(() => {
    clearTimeout(hard);
    process.exit(0);
  });
});
