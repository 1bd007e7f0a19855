import { Proof, RedisLink, SyncEngine, commandConnection, subscriberConnection } from "@switchyard/agent";
import { Slicer, StoreReader, buildKeys, type State } from "@switchyard/shared";
import { compileTableCooperative } from "../../agent/src/serve/table.js";
import { quiet } from "./state.js";

/**
 * COUNT agents in one process for the propagation section: each the agent's push flow (link, sync,
 * proof) with its own command and subscriber connections, installing a compiled table and proving
 * every apply (ack + heartbeat) exactly as an agent process does. Prints {"ready":COUNT} once all
 * are started; SIGTERM stops them.
 */
const env = process.env;
const count = Number(env.COUNT ?? 1);
const keys = buildKeys(env.PREFIX ?? "bench");
const url = env.REDIS_URL ?? "";

/** One agent's push flow, wired as the agent's edge.ts wires it. */
function agent(id: string) {
  const command = commandConnection({ url }, quiet);
  const link = new RedisLink({ command, subscriber: subscriberConnection({ url }, quiet), channel: keys.changes, pingIntervalMs: 1000, pingTimeoutMs: 1000 }, quiet);
  const proof = new Proof(command, keys, { id, version: "bench", address: "127.0.0.1:0", intervalMs: 1000, ttlMs: 5000 }, quiet);
  const sync = new SyncEngine({
    link, reader: new StoreReader(command, keys), log: quiet, retryMs: 2000,
    install: async (revision: number, state: State) => void (await compileTableCooperative(state, revision, new Slicer(2))),
    onApplied: (revision, appliedAt) => proof.applied(revision, appliedAt),
  });
  return {
    async start() {
      proof.start();
      sync.start();
      await link.start();
    },
    async stop() {
      sync.stop();
      await proof.stop();
      await link.close();
    },
  };
}

const runners: ReturnType<typeof agent>[] = [];
for (let i = 0; i < count; i += 50) {
  // Batches of 50, so a thousand agents do not all connect and load a snapshot in the same instant.
  const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) => {
    const id = `${env.ID_BASE ?? "a"}-${i + j}`;
    const runner = agent(id);
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
