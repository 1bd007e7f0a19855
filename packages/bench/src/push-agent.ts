import { Proof, RedisLink, SyncEngine, commandConnection, subscriberConnection } from "@switchyard/agent";
import { Slicer, StoreReader, type Keys } from "@switchyard/shared";
import { TableHolder } from "../../agent/src/serve/holder.js";
import { quiet } from "./state.js";

/**
 * One agent's push flow in this process, wired as the agent's edge.ts wires it: its own command
 * and subscriber connections, link -> sync -> the table holder, and, given an `id`, proof of every
 * apply (ack + heartbeat). No proxy listener.
 */
export function pushAgent(url: string, keys: Keys, opts: { id?: string; onApplied?: () => void; readUrl?: string } = {}) {
  const command = commandConnection({ url }, quiet);
  // Given a replica (`readUrl`), the subscription and every read go there and only the proof goes
  // to the primary, as the fan-out-past-one-primary setup runs an agent.
  const read = opts.readUrl === undefined ? command : commandConnection({ url: opts.readUrl }, quiet);
  const link = new RedisLink({ command: read, subscriber: subscriberConnection({ url: opts.readUrl ?? url }, quiet), channel: keys.changes, pingIntervalMs: 1000, pingTimeoutMs: 1000 }, quiet);
  const proof = opts.id === undefined ? undefined : new Proof(command, keys, { id: opts.id, version: "bench", address: "127.0.0.1:0", intervalMs: 1000, ttlMs: 5000 }, quiet);
  // The agent's holder: a route change is patched into the table, anything else compiled in slices.
  const holder = new TableHolder({ retain() {} }, new Slicer(2), quiet);
  const sync = new SyncEngine({
    link, reader: new StoreReader(read, keys), log: quiet, retryMs: 2000, checkMs: 1000,
    install: holder.install,
    onApplied: (revision, appliedAt, epoch) => {
      proof?.applied(revision, appliedAt, epoch);
      opts.onApplied?.();
    },
    onRejection: (rejected) => proof?.setRejected(rejected),
  });
  return {
    async start() {
      // The link connects the connections it owns; a primary kept for proofs alone is connected here.
      if (read !== command) await command.connect();
      proof?.start();
      sync.start();
      await link.start();
    },
    async stop() {
      sync.stop();
      await proof?.stop();
      await link.close();
      if (read !== command) command.disconnect();
    },
  };
}
