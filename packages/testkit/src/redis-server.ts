import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { waitFor } from "./wait.js";

/**
 * A private redis-server owned by one test file. It listens on a free loopback port,
 * keeps nothing on disk and dies with the test process, so tests never touch the
 * shared 127.0.0.1:6379 instance.
 */
export interface RedisHandle {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** SIGSTOP: the TCP connection stays open but nothing answers (a hung server). */
  pause(): void;
  resume(): void;
  /** SIGKILL: connections drop, the port refuses until start(). */
  kill(): Promise<void>;
  /** Start again on the same port, empty. */
  start(): Promise<void>;
  /** kill() then start(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

async function launch(port: number, dir: string, extra: string[] = []): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--dir", dir,
      "--maxmemory-policy", "noeviction",
      "--loglevel", "warning",
      ...extra,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const failed = new Promise<never>((_, reject) => {
    child.once("error", (err) => reject(new Error(`cannot start redis-server (is it on PATH?): ${err.message}`)));
    child.once("exit", (code) => reject(new Error(`redis-server exited early with code ${code}`)));
  });
  failed.catch(() => undefined);
  const ready = waitFor(
    async () => {
      const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on("error", () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === "PONG";
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    },
    { timeoutMs: 10_000, what: `redis-server on port ${port}` },
  );
  await Promise.race([ready, failed]);
  child.removeAllListeners("exit");
  return child;
}

/** `args`: extra redis-server arguments, such as `["--replicaof", "127.0.0.1", "6379"]` (topology.ts). */
export async function startRedis(args: string[] = []): Promise<RedisHandle> {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-redis-"));
  const port = await freePort();
  let child = await launch(port, dir, args);
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await exited;
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid ?? -1;
    },
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
    kill,
    async start() {
      child = await launch(port, dir, args);
    },
    async restart() {
      await kill();
      child = await launch(port, dir, args);
    },
    async stop() {
      process.removeListener("exit", killOnExit);
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
