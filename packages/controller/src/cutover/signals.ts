import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import {
  PROTOCOL_VERSION, ProbeReport, dict, looksLikeAddress, statsField, upstreamPools, type Keys, type State, type Upstream,
} from "@switchyard/shared";
import { listAgents } from "../fleet/agents.js";
import type { PreflightReport } from "./spec.js";

/** Labels the agents count traffic under for an upstream: pool names, or the address itself. */
export function statsLabels(u: Upstream): string[] {
  return typeof u === "string" && looksLikeAddress(u) ? [u] : upstreamPools(u);
}

/**
 * Cumulative requests and errors the agents counted for `hosts` (route keys) on upstream `u`: the
 * traffic a canary's switched hosts sent to the new upstream, not the pool's traffic from elsewhere.
 */
export async function readRouteTraffic(redis: Redis, keys: Keys, hosts: string[], u: Upstream): Promise<{ requests: number; errors: number }> {
  const labels = statsLabels(u);
  const fields = hosts.flatMap((h) => labels.flatMap((l) => [statsField.routeRequests(h, l), statsField.routeErrors(h, l)]));
  const values = await redis.hmget(keys.stats, ...fields);
  let requests = 0;
  let errors = 0;
  values.forEach((v, i) => {
    if (i % 2 === 0) requests += Number(v ?? 0);
    else errors += Number(v ?? 0);
  });
  return { requests, errors };
}

/** Whether `status` is in an expectStatus list such as `200-399` or `200,204`. */
export function statusExpected(status: number, expect: string): boolean {
  return expect.split(",").some((part) => {
    const [lo, hi] = part.split("-").map(Number) as [number, number | undefined];
    return status >= lo && status <= (hi ?? lo);
  });
}

export function targetsOf(u: Upstream, state: State): string[] {
  if (typeof u === "string" && looksLikeAddress(u)) return [u];
  return [...new Set(upstreamPools(u).flatMap((p) => state.pools[p]?.targets.map((t) => t.address) ?? []))];
}

const REPORT_GRACE_MS = 2000;
const POLL_MS = 100;

/**
 * Asks every live agent to probe `targets` and waits for their reports. A target is healthy only
 * when every live agent reached it: the edges, not the controller, are what must see green.
 */
export async function preflight(redis: Redis, keys: Keys, targets: string[], path: string, timeoutMs: number, expectStatus?: string): Promise<PreflightReport> {
  const agents = (await listAgents(redis, keys)).map((a) => a.id);
  // Keyed by address and agent id: null-prototype objects (see shared dict.ts).
  const report: PreflightReport = { ok: false, targets: dict(), missingAgents: [] };
  for (const t of targets) report.targets[t] = { ok: false, agents: dict() };
  if (agents.length === 0) {
    report.missingAgents = [];
    return report;
  }
  const id = randomBytes(8).toString("hex");
  await redis.publish(keys.probes, JSON.stringify({ v: PROTOCOL_VERSION, id, targets, path, timeoutMs }));
  const deadline = Date.now() + timeoutMs + REPORT_GRACE_MS;
  let reports = dict<string>();
  for (;;) {
    reports = dict(Object.entries(await redis.hgetall(keys.probeResults(id))));
    if (agents.every((a) => reports[a] !== undefined) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  for (const agent of agents) {
    let raw: unknown;
    try {
      raw = reports[agent] === undefined ? undefined : JSON.parse(reports[agent] as string);
    } catch {
      raw = undefined;
    }
    const parsed = raw === undefined ? undefined : ProbeReport.safeParse(raw);
    if (!parsed?.success) {
      report.missingAgents.push(agent);
      continue;
    }
    for (const t of targets) {
      let r = parsed.data.results[t] ?? { ok: false, error: "not probed", ms: 0 };
      // The agents judge 2xx/3xx; a pool's health check may expect other statuses.
      if (expectStatus !== undefined && r.status !== undefined) {
        const ok = statusExpected(r.status, expectStatus);
        r = ok ? { ok, status: r.status, ms: r.ms } : { ok, status: r.status, ms: r.ms, error: `unhealthy status ${r.status}` };
      }
      (report.targets[t] as PreflightReport["targets"][string]).agents[agent] = r;
    }
  }
  for (const t of Object.values(report.targets)) t.ok = agents.every((a) => t.agents[a]?.ok === true);
  report.ok = report.missingAgents.length === 0 && Object.values(report.targets).every((t) => t.ok);
  return report;
}
