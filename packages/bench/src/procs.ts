import { readFileSync } from "node:fs";
import { AGENT_NODE_FLAGS } from "@switchyard/agent";
import { freePort, waitFor } from "@switchyard/testkit";
import { ROOT, spawnNode, type Proc } from "../../e2e/src/index.js";

/**
 * The processes the bench measures or drives, started as a user would (built entry points, plain
 * environment) through the e2e package's spawnNode, so they die with the bench.
 */

export interface Server {
  port: number;
  pid: number;
  proc: Proc;
}

/** What the agent's config accepts right now: it is being extended while this bench is written. */
export function agentFeatures(): { engines: string[]; defaultEngine: string | undefined; workers: boolean; fastPath: boolean; revisionHeader: boolean } {
  const src = readFileSync(new URL("../../agent/src/config.ts", import.meta.url), "utf8");
  const engines = /AGENT_ENGINE:\s*z\.enum\(\[([^\]]*)\]/.exec(src)?.[1];
  return {
    engines: engines ? [...engines.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string) : [],
    defaultEngine: /AGENT_ENGINE:[^\n]*\.default\("([^"]+)"\)/.exec(src)?.[1],
    workers: src.includes("AGENT_WORKERS"),
    fastPath: src.includes("AGENT_FAST_PATH"),
    revisionHeader: src.includes("AGENT_REVISION_HEADER"),
  };
}

/**
 * One of servers.mjs's modes (upstream, bare-http-proxy, bare-undici, bare-h1). The bare forwarders
 * run under the agent's own Node flags, so "routing overhead" compares code, not heap settings.
 */
export async function startServer(mode: string, env: Record<string, string> = {}, opts: { agentFlags?: boolean } = {}): Promise<Server> {
  const flags = (opts.agentFlags ?? mode.startsWith("bare-")) ? AGENT_NODE_FLAGS : [];
  const proc = spawnNode(mode, [...flags, "packages/bench/src/servers.mjs"], { MODE: mode, HOST: "127.0.0.1", PORT: "0", ...env });
  const line = await waitFor(() => /\{"listening":(\d+)\}/.exec(proc.output())?.[1] ?? (proc.child.exitCode !== null ? "exit" : undefined), {
    timeoutMs: 10_000,
    what: `${mode} listening`,
  });
  if (line === "exit") throw new Error(`${mode} exited: ${proc.output()}`);
  return { port: Number(line), pid: proc.child.pid ?? -1, proc };
}

export interface AgentProc extends Server {
  id: string;
  adminPort: number;
}

export interface AgentOptions {
  redisUrl: string;
  prefix: string;
  id: string;
  engine?: string;
  workers?: number;
  /** Extra node flags before the entry point (e.g. `--import <probe>`). */
  nodeArgs?: string[];
  /** Start with plain `node`, without the agent's own flags (AGENT_NODE_FLAGS): for comparisons only. */
  withoutAgentFlags?: boolean;
  env?: Record<string, string>;
}

/** A real agent process (`node <AGENT_NODE_FLAGS> packages/agent/dist/main.js`) on 127.0.0.1, waited for until ready. */
export async function startAgent(o: AgentOptions): Promise<AgentProc> {
  const port = await freePort();
  const adminPort = await freePort();
  // As shipped: the flags the start script, docker-compose.yml and pnpm demo pass.
  const flags = o.withoutAgentFlags ? [] : AGENT_NODE_FLAGS;
  const proc = spawnNode(o.id, [...flags, ...(o.nodeArgs ?? []), "packages/agent/dist/main.js"], {
    REDIS_URL: o.redisUrl,
    SWITCHYARD_PREFIX: o.prefix,
    AGENT_ID: o.id,
    AGENT_HOST: "127.0.0.1",
    AGENT_PORT: String(port),
    AGENT_ADMIN_PORT: String(adminPort),
    LOG_LEVEL: "warn",
    ...(o.engine ? { AGENT_ENGINE: o.engine } : {}),
    ...(o.workers ? { AGENT_WORKERS: String(o.workers) } : {}),
    ...o.env,
  });
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`agent ${o.id} exited: ${proc.output()}`);
      return (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined))?.ok;
    },
    { timeoutMs: 30_000, intervalMs: 20, what: `agent ${o.id} ready` },
  );
  return { id: o.id, port, adminPort, pid: proc.child.pid ?? -1, proc };
}

/** Stops them all, each bounded by spawnNode's SIGKILL fallback. */
export async function stopAll(procs: readonly ({ proc: Proc } | { stop(): Promise<void> })[]): Promise<void> {
  await Promise.all(procs.map((p) => ("proc" in p ? p.proc.stop("SIGTERM", 5000) : p.stop())));
}

export { ROOT };
