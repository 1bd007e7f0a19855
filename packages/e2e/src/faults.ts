import type { AdminStatus } from "@switchyard/agent";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "node:http";
import { digestOf } from "@switchyard/shared";
import { waitFor } from "@switchyard/testkit";
import { spawnNode } from "./index.js";
import { get, type Fleet, type FleetAgent } from "./fleet.js";

/**
 * The store fault harness (issue 12): a fleet whose agents keep their table on disk, a bounded
 * load that counts failed requests, and the F/L/D/C figures each fault mode reports:
 *   F  failed requests while a table is served (non-200, or no answer)
 *   L  lost or diverged updates: agents whose table differs from GET /v1/state, plus writes missing
 *   D  detection: fault -> every agent reports it (ms)
 *   C  convergence: heal -> every agent serves GET /v1/state's table, with no error (ms)
 */
export interface Figures {
  F: number;
  L: number;
  D: number;
  C: number;
}

export const report = (mode: string, f: Figures): string => `# fault mode ${mode}: F=${f.F} L=${f.L} D=${f.D}ms C=${f.C}ms`;

/** Each agent its own AGENT_STATE_DIR, for startFleet's agentEnv. */
export async function stateDirs(n: number): Promise<(i: number) => Record<string, string>> {
  const dirs = await Promise.all(Array.from({ length: n }, () => mkdtemp(join(tmpdir(), "switchyard-agent-state-"))));
  return (i) => ({ AGENT_STATE_DIR: dirs[i] as string });
}

/** What an agent's admin `/status` answers (admin.ts). */
export type AgentStatus = AdminStatus;

export async function agentStatus(a: FleetAgent): Promise<AgentStatus | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${a.adminPort}/status`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as AgentStatus) : undefined;
  } catch {
    return undefined;
  }
}

export async function agentReady(a: FleetAgent): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${a.adminPort}/readyz`, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/** The digest of GET /v1/state's table, as agents compute theirs (canonical JSON, sha256). */
export async function storeDigest(fleet: Fleet): Promise<{ revision: number; digest: string } | undefined> {
  const r = await fleet.api("GET", "/v1/state");
  if (r.status !== 200) return undefined;
  const { revision, defaultUpstream, pools, routes } = r.body as { revision: number; defaultUpstream: unknown; pools: unknown; routes: unknown };
  return { revision, digest: digestOf({ defaultUpstream, pools, routes }) };
}

/** Agents whose table differs from the store's, by what each reports itself (digest and error). */
export async function diverged(fleet: Fleet, agents = fleet.agents): Promise<string[]> {
  const store = await storeDigest(fleet);
  const out: string[] = [];
  for (const a of agents) {
    const s = await agentStatus(a);
    if (!store || !s || s.digest !== store.digest || s.revision !== store.revision || s.lastError !== null || s.source !== "redis") out.push(a.id);
  }
  return out;
}

/** Waits until every agent serves the store's table; resolves with the time it happened. */
export async function converge(fleet: Fleet, timeoutMs = 15_000): Promise<number> {
  await waitFor(async () => (await diverged(fleet)).length === 0, { timeoutMs, intervalMs: 50, what: "every agent serves GET /v1/state's table" });
  return Date.now();
}

/**
 * Polls until `pred` has held for every agent's status (each agent once: a report that a quick heal
 * already cleared still counts); resolves with the elapsed ms since `since` when the last one did.
 */
export async function detected(agents: FleetAgent[], pred: (s: AgentStatus) => boolean, since: number, timeoutMs = 10_000): Promise<number> {
  const seen = new Set<string>();
  await waitFor(async () => {
    const all = await Promise.all(agents.map(agentStatus));
    for (const s of all) if (s !== undefined && pred(s)) seen.add(s.id);
    return agents.every((a) => seen.has(a.id));
  }, { timeoutMs, intervalMs: 25, what: "fault detected by every agent" });
  return Date.now() - since;
}

/** A write through the API, retried while the store answers 503 (uninitialised, unreachable); bounded. */
export async function writeUntilAccepted(fleet: Fleet, method: string, path: string, body: unknown, timeoutMs = 20_000): Promise<{ revision: number; refused: number }> {
  const deadline = Date.now() + timeoutMs;
  let refused = 0;
  for (;;) {
    const r = await fleet.api(method, path, body).catch(() => ({ status: 0, body: undefined, text: "" }));
    if (r.status === 200) return { revision: (r.body as { revision: number }).revision, refused };
    if (r.status !== 503 && r.status !== 0) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    if (Date.now() > deadline) throw new Error(`${method} ${path}: still refused after ${timeoutMs} ms (${r.text})`);
    refused++;
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Kills an agent and starts it again with the same environment (its state dir included). */
export async function restartAgent(fleet: Fleet, i: number): Promise<FleetAgent> {
  const old = fleet.agents[i] as FleetAgent;
  await old.proc.stop("SIGKILL");
  const proc = spawnNode(`${old.id}'`, ["packages/agent/dist/main.js"], old.env);
  fleet.procs.push(proc);
  const a = { ...old, proc };
  fleet.agents[i] = a;
  return a;
}

/**
 * Bounded load through every agent over `hosts`, counting failures: a non-200 answer or none from
 * an agent that is ready (a table is served), as issue 12 counts F.
 */
export function loadWhileServed(fleet: Fleet, hosts: string[], opts: { maxRequests?: number; maxMs?: number } = {}) {
  const { maxRequests = 40_000, maxMs = 90_000 } = opts;
  const failures: string[] = [];
  let ok = 0;
  let running = true;
  const deadline = Date.now() + maxMs;
  const loops = fleet.agents.map(async (_, i) => {
    const keep = new Agent({ keepAlive: true, maxSockets: 1 });
    let n = 0;
    while (running && ok + failures.length < maxRequests && Date.now() < deadline) {
      const a = fleet.agents[i] as FleetAgent;
      const host = hosts[n++ % hosts.length] as string;
      let failure: string | undefined;
      try {
        const r = await get(a.host, a.port, host, keep, 3000);
        if (r.status === 200) ok++;
        else failure = `${a.id} ${host}: ${r.status} ${r.body.slice(0, 120)}`;
      } catch (err) {
        failure = `${a.id} ${host}: ${(err as Error).message}`;
      }
      if (failure === undefined) continue;
      // Counted only while the agent serves a table (ready); one this test killed, or that has no
      // table yet, is not serving one.
      const alive = a.proc.child.exitCode === null && a.proc.child.signalCode === null;
      if (alive && (await agentReady(a))) failures.push(failure);
      else await new Promise((r) => setTimeout(r, 20));
    }
    keep.destroy();
  });
  return {
    failures,
    get ok() {
      return ok;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
