import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, startRedis, type RedisHandle } from "./redis-server.js";
import { waitFor } from "./wait.js";

/**
 * Redis topologies on loopback for tests: a primary, replicas and real `redis-sentinel`
 * processes watching them. Sentinels notice a dead primary after 1 s (down-after-milliseconds)
 * and need 2 of 3 to agree. Everything dies with the test process.
 */
export interface SentinelTopology {
  readonly name: string;
  /** Index 0 is the first primary; after a failover another one is. */
  readonly servers: RedisHandle[];
  readonly sentinels: { port: number; pid: number }[];
  /** `host:port,...` for REDIS_SENTINELS. */
  readonly sentinelList: string;
  /** The primary's port as the sentinels name it now. */
  primaryPort(): Promise<number>;
  /** `SENTINEL <sub> <name>` on the first sentinel, such as FAILOVER. */
  sentinelCommand(sub: string): Promise<unknown>;
  /** Waits until every replica is linked and caught up with the primary. */
  synced(): Promise<void>;
  stop(): Promise<void>;
}

async function startSentinel(dir: string, name: string, primaryPort: number, i: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const conf = join(dir, `sentinel-${i}.conf`);
  await writeFile(conf, [
    `port ${port}`, "bind 127.0.0.1", `dir ${dir}`, "sentinel resolve-hostnames no",
    `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
    `sentinel down-after-milliseconds ${name} 1000`,
    `sentinel failover-timeout ${name} 5000`,
    `sentinel parallel-syncs ${name} 1`,
    "",
  ].join("\n"));
  const child = spawn("redis-sentinel", [conf, "--loglevel", "warning"], { stdio: ["ignore", "ignore", "inherit"] });
  process.once("exit", () => child.kill("SIGKILL"));
  await waitFor(async () => {
    const c = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => undefined);
    try {
      await c.connect();
      return (await c.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }, { timeoutMs: 10_000, what: `redis-sentinel on ${port}` });
  return { port, child };
}

export async function startSentinelTopology(replicas = 1, name = "switchyard-test"): Promise<SentinelTopology> {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-sentinel-"));
  const primary = await startRedis();
  const servers = [primary];
  for (let i = 0; i < replicas; i++) servers.push(await startRedis(["--replicaof", "127.0.0.1", String(primary.port)]));
  const sentinels: { port: number; child: ChildProcess }[] = [];
  for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(dir, name, primary.port, i));
  const ask = async <T>(fn: (c: Redis) => Promise<T>): Promise<T> => {
    const c = new Redis({ port: sentinels[0]!.port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
    c.on("error", () => undefined);
    try {
      return await fn(c);
    } finally {
      c.disconnect();
    }
  };
  const topo: SentinelTopology = {
    name,
    servers,
    sentinels: sentinels.map((s) => ({ port: s.port, pid: s.child.pid ?? -1 })),
    sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(","),
    sentinelCommand: (sub) => ask((c) => c.call("SENTINEL", sub, name)),
    primaryPort: () => ask(async (c) => Number(((await c.call("SENTINEL", "get-master-addr-by-name", name)) as string[])[1])),
    async synced() {
      await waitFor(async () => {
        const port = await topo.primaryPort();
        const p = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
        p.on("error", () => undefined);
        try {
          const info = await p.info("replication");
          const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1]);
          const lines = [...info.matchAll(/^slave\d+:.*state=(\w+).*offset=(\d+)/gm)];
          return lines.length === servers.length - 1 && lines.every((m) => m[1] === "online" && Number(m[2]) === offset);
        } catch {
          return false;
        } finally {
          p.disconnect();
        }
      }, { timeoutMs: 20_000, what: "replicas in sync" });
    },
    async stop() {
      for (const s of sentinels) s.child.kill("SIGKILL");
      for (const s of servers) {
        s.resume();
        await s.stop();
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  // The sentinels know the replicas and each other before a test may fail anything over.
  await waitFor(async () => ask(async (c) => {
    const replicasSeen = ((await c.call("SENTINEL", "replicas", name)) as unknown[]).length;
    const peers = ((await c.call("SENTINEL", "sentinels", name)) as unknown[]).length;
    return replicasSeen === replicas && peers === 2;
  }).catch(() => false), { timeoutMs: 20_000, what: "sentinels see the replicas and each other" });
  await topo.synced();
  return topo;
}
