import { pino } from "pino";
import { MIN_LOG_CAP, StoreWriter, buildKeys, type Keys, type Op, type State } from "@switchyard/shared";
import { randomPrefix, type RedisHandle } from "@switchyard/testkit";
import type { Redis } from "ioredis";
import { SyncRunner } from "../src/sync/runner.js";

export interface Installed {
  revision: number;
  state: State;
  at: number;
}

export interface SyncFixture {
  keys: Keys;
  runner: SyncRunner;
  writer: StoreWriter;
  installs: Installed[];
  /** The table an agent would be serving: the last install. */
  current(): Installed | undefined;
  downs: number[];
  ups: number[];
}

export const pool = (port: number) => ({ targets: [{ address: `127.0.0.1:${port}`, weight: 1 }] });
export const putPool = (name: string, port = 1): Op => ({ op: "pool.put", name, pool: pool(port) });
export const putRoute = (host: string, upstream: string): Op => ({ op: "route.put", host, route: { upstream } });

/** A sync runner exactly as the agent wires it, except that "install" records instead of compiling. */
export function makeSync(server: RedisHandle, writerRedis: Redis, id = "agent-1", keys = buildKeys(randomPrefix())): SyncFixture {
  const installs: Installed[] = [];
  const downs: number[] = [];
  const ups: number[] = [];
  const runner = new SyncRunner(
    keys,
    {
      link: { url: server.url, pingIntervalMs: 500, pingTimeoutMs: 1000, commandTimeoutMs: 1500 },
      proof: { id, version: "test", address: "127.0.0.1:0", intervalMs: 500, ttlMs: 2000 },
      retryMs: 500,
    },
    (revision, state) => {
      if (Object.keys(state.routes).some((h) => h.startsWith("reject."))) throw new Error("compile refused this state");
      installs.push({ revision, state, at: Date.now() });
    },
    pino({ level: "silent" }),
  );
  runner.link.on("down", () => downs.push(Date.now()));
  runner.link.on("up", () => ups.push(Date.now()));
  return { keys, runner, writer: new StoreWriter(writerRedis, keys, MIN_LOG_CAP), installs, current: () => installs.at(-1), downs, ups };
}
