import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { waitFor } from "@switchyard/testkit";

/**
 * A reference server (nginx, HAProxy) run in the foreground as a child of the bench: killed if the
 * bench exits, ready once it answers HTTP on `port`, stopped with its own graceful signal (SIGKILL
 * after 3 s), its temp directory removed.
 */

export interface Daemon {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startDaemon(label: string, cmd: string, args: string[], o: { port: number; dir: string; stopSignal: NodeJS.Signals }): Promise<Daemon> {
  let stderr = "";
  const child: ChildProcess = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${label} exited: ${stderr}`);
      const r = await fetch(`http://127.0.0.1:${o.port}/`, { headers: { host: "bench.local" } }).catch(() => undefined);
      return r !== undefined && (await r.arrayBuffer(), true);
    },
    { timeoutMs: 10_000, what: `${label} on ${o.port}` },
  );
  return {
    port: o.port,
    pid: child.pid ?? -1,
    async stop() {
      process.removeListener("exit", kill);
      if (child.exitCode === null) {
        const exited = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill(o.stopSignal);
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(o.dir, { recursive: true, force: true });
    },
  };
}
