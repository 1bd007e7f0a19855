import { request as httpRequest, Agent } from "node:http";
import { freePort, waitFor, type RedisHandle } from "@switchyard/testkit";
import { spawnNode, type Proc } from "./index.js";

export const TOKEN = "e2e-write-token-0123456789abcdef";

export interface FleetAgent {
  id: string;
  host: string;
  port: number;
  adminPort: number;
  proc: Proc;
  /** The environment it was started with, to start it again the same way (fault tests). */
  env: Record<string, string>;
}

export interface Fleet {
  controllerUrl: string;
  controller: Proc;
  agents: FleetAgent[];
  apps: { blue: string[]; green: string[] };
  procs: Proc[];
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }>;
  stop(): Promise<void>;
}

/**
 * Every agent a fleet starts stamps its responses with the revision of the table that routed them
 * (AGENT_REVISION_HEADER): what the load checks assert on.
 */
export const REVISION_HEADER = "x-switchyard-revision";

/** GET through an agent with an explicit Host header; resolves with status, body text and the routing revision (NaN without one). */
export function get(host: string, port: number, hostHeader: string, agent?: Agent, timeoutMs = 5000): Promise<{ status: number; body: string; revision: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path: "/", headers: { host: hostHeader }, agent, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      const stamp = res.headers[REVISION_HEADER];
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, revision: typeof stamp === "string" ? Number(stamp) : NaN }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}

async function startApp(color: string, procs: Proc[]): Promise<string[]> {
  const base = await freePort();
  const second = await freePort();
  // Two single-instance processes, so each gets a port known to be free.
  const addrs: string[] = [];
  for (const [i, port] of [base, second].entries()) {
    procs.push(spawnNode(`${color}-${i + 1}`, ["examples/color-app.mjs"], { COLOR: color, INSTANCES: "1", PORT: String(port) }));
    addrs.push(`127.0.0.1:${port}`);
  }
  for (const a of addrs) {
    const [h, p] = a.split(":");
    await waitFor(async () => (await get(h as string, Number(p), "x")).status === 200, { what: `${color} app ${a}`, timeoutMs: 10_000 });
  }
  return addrs;
}

/** Redis (given), a controller, agents on their own loopback addresses, blue and green apps. */
export async function startFleet(
  redis: RedisHandle,
  prefix: string,
  agentHosts: string[],
  /** Extra agent environment; a function gives each agent its own (say, its AGENT_STATE_DIR). */
  agentEnv: Record<string, string> | ((index: number) => Record<string, string>) = {},
  controllerEnv: Record<string, string> = {},
): Promise<Fleet> {
  const procs: Proc[] = [];
  const controllerPort = await freePort();
  const common = { REDIS_URL: redis.url, SWITCHYARD_PREFIX: prefix, LOG_LEVEL: "warn" };
  const controller = spawnNode("controller", ["packages/controller/dist/main.js"], {
    ...common,
    CONTROLLER_PORT: String(controllerPort),
    SWITCHYARD_TOKENS: `e2e:write:${TOKEN}`,
    ...controllerEnv,
  });
  procs.push(controller);
  const controllerUrl = `http://127.0.0.1:${controllerPort}`;
  const agents: FleetAgent[] = [];
  for (const [i, host] of agentHosts.entries()) {
    const port = await freePort(host);
    const adminPort = await freePort();
    const id = `edge-${i + 1}`;
    const env = {
      ...common,
      AGENT_ID: id,
      AGENT_HOST: host,
      AGENT_PORT: String(port),
      AGENT_ADMIN_PORT: String(adminPort),
      AGENT_REVISION_HEADER: REVISION_HEADER,
      ...(typeof agentEnv === "function" ? agentEnv(i) : agentEnv),
    };
    const proc = spawnNode(id, ["packages/agent/dist/main.js"], env);
    procs.push(proc);
    agents.push({ id, host, port, adminPort, proc, env });
  }
  const apps = { blue: await startApp("blue", procs), green: await startApp("green", procs) };

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${controllerUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as any, text };
  };
  await waitFor(async () => (await fetch(`${controllerUrl}/readyz`)).ok, { what: "controller ready", timeoutMs: 15_000 });
  for (const a of agents) {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${a.adminPort}/readyz`)).ok, { what: `${a.id} ready`, timeoutMs: 15_000 });
  }
  await waitFor(async () => (await api("GET", "/v1/agents")).body?.length === agents.length, { what: "all agents registered", timeoutMs: 20_000 });
  return {
    controllerUrl,
    controller,
    agents,
    apps,
    procs,
    api,
    async stop() {
      await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    },
  };
}
