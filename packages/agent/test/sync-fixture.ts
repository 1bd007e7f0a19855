import { pino, type Logger } from "pino";
import { MIN_LOG_CAP, StoreLineage, StoreReader, StoreWriter, buildKeys, type Keys, type Op, type State } from "@switchyard/shared";
import { randomPrefix, type RedisHandle } from "@switchyard/testkit";
import type { Redis } from "ioredis";
import { commandConnection, subscriberConnection } from "../src/redis.js";
import { ProbeResponder } from "../src/signals/probes.js";
import { RedisLink } from "../src/sync/link.js";
import { Proof } from "../src/sync/proof.js";
import { SyncEngine } from "../src/sync/sync.js";

export interface Installed {
  revision: number;
  state: State;
  at: number;
}

export interface SyncFixture {
  keys: Keys;
  link: RedisLink;
  sync: SyncEngine;
  writer: StoreWriter;
  installs: Installed[];
  /** The table an agent would be serving: the last install. */
  current(): Installed | undefined;
  downs: number[];
  ups: number[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

export const pool = (port: number) => ({ targets: [{ address: `127.0.0.1:${port}`, weight: 1 }] });
export const putPool = (name: string, port = 1): Op => ({ op: "pool.put", name, pool: pool(port) });
export const putRoute = (host: string, upstream: string): Op => ({ op: "route.put", host, route: { upstream } });

export interface SyncFixtureOptions {
  id?: string;
  keys?: Keys;
  /** Where the agent's connections go (the server's URL by default). */
  url?: string;
  log?: Logger;
  /** Also answer preflight probes, as the agent's one probing process does. */
  probes?: boolean;
}

/**
 * One agent's push flow wired as edge.ts wires it (factory connections, link, sync, proof, and
 * probes when asked), except that "install" records instead of compiling.
 */
export function makeSync(server: RedisHandle, writerRedis: Redis, o: SyncFixtureOptions = {}): SyncFixture {
  const { id = "agent-1", keys = buildKeys(randomPrefix()), url = server.url, log = pino({ level: "silent" }) } = o;
  const installs: Installed[] = [];
  const downs: number[] = [];
  const ups: number[] = [];
  const command = commandConnection({ url }, log);
  const channels: Record<string, string> = o.probes ? { probe: keys.probes } : {};
  const link = new RedisLink({ command, subscriber: subscriberConnection({ url }, log), channel: keys.changes, channels, pingIntervalMs: 500, pingTimeoutMs: 1000 }, log);
  const lineage = new StoreLineage(command, keys);
  const proof = new Proof(command, keys, { id, version: "test", address: "127.0.0.1:0", intervalMs: 500, ttlMs: 2000 }, log);
  const sync = new SyncEngine({
    link,
    reader: new StoreReader(command, keys),
    log,
    retryMs: 500,
    checkMs: 500,
    install: (revision, state) => {
      if (Object.keys(state.routes).some((h) => h.startsWith("reject."))) throw new Error("compile refused this state");
      installs.push({ revision, state, at: Date.now() });
    },
    onApplied: (revision, appliedAt, epoch) => proof.applied(revision, appliedAt, epoch),
    onStoreLost: (held) => void lineage.offer({ agent: id, ...held, at: Date.now() }).catch(() => undefined),
    onRejection: (rejected) => proof.setRejected(rejected),
  });
  const probes = o.probes ? new ProbeResponder({ redis: command, keys, agentId: id, log }) : undefined;
  if (probes) link.on("probe", (raw: string) => probes.handle(raw));
  link.on("down", () => downs.push(Date.now()));
  link.on("up", () => ups.push(Date.now()));
  return {
    keys, link, sync, writer: new StoreWriter(writerRedis, keys, MIN_LOG_CAP), installs, current: () => installs.at(-1), downs, ups,
    async start() {
      proof.start();
      sync.start();
      await link.start();
    },
    async stop() {
      sync.stop();
      probes?.close();
      await proof.stop();
      await link.close();
    },
  };
}
