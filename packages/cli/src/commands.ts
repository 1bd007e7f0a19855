import type { Client } from "./client.js";
import { CliError, UsageError } from "./errors.js";
import { ProgressRenderer, renderCutover, renderCutoverList } from "./progress.js";
import { renderAgents, renderStatus, renderSwitch, isWaitResult } from "./render.js";
import type { Agent, Cutover, CutoverRequest, FleetState, Upstream, WaitResult, WriteResult } from "./types.js";
import { cutoverPath, followCutover, type WatchOptions } from "./watch.js";

export interface Ctx {
  client: Client;
  json: boolean;
  out(text: string): void;
  err(text: string): void;
  watch?: WatchOptions;
}

const printJson = (ctx: Ctx, value: unknown) => ctx.out(JSON.stringify(value, null, 2) + "\n");

export async function status(ctx: Ctx): Promise<number> {
  const [state, agents] = await Promise.all([ctx.client.get<FleetState>("/v1/state"), ctx.client.get<Agent[]>("/v1/agents")]);
  if (ctx.json) printJson(ctx, { state, agents });
  else ctx.out(renderStatus(state, agents));
  return 0;
}

export async function agents(ctx: Ctx): Promise<number> {
  const list = await ctx.client.get<Agent[]>("/v1/agents");
  if (ctx.json) printJson(ctx, list);
  else ctx.out(renderAgents(list));
  return 0;
}

export async function switchRoute(ctx: Ctx, host: string, upstream: Upstream, opts: { wait?: boolean; timeout?: number }): Promise<number> {
  if (opts.timeout !== undefined && !opts.wait) throw new UsageError("--timeout goes with --wait");
  const timeoutMs = opts.timeout ?? 5000;
  const query = opts.wait ? `?wait=applied&timeout=${timeoutMs}` : "";
  const result = await ctx.client.request<WriteResult | WaitResult>("PUT", `/v1/routes/${encodeURIComponent(host)}${query}`, { upstream }, {
    // The controller may legitimately hold the answer for the whole wait.
    ...(opts.wait ? { timeoutMs: timeoutMs + 15_000 } : {}),
  });
  if (ctx.json) printJson(ctx, result);
  else ctx.out(renderSwitch(host, upstream, result));
  if (isWaitResult(result) && !result.complete) {
    ctx.err(`error: revision ${result.revision} was written but ${result.missing.length} agent(s) did not apply it within ${timeoutMs} ms\n`);
    return 1;
  }
  return 0;
}

export interface CutoverOptions {
  to: Upstream;
  from?: Upstream;
  canary?: number[];
  interval?: string;
  bake?: string;
  ackTimeout?: string;
  preflight?: boolean;
  probePath?: string;
  probeTimeout?: string;
  maxErrorRate?: number;
  minRequests?: number;
  at?: string;
  watch?: boolean;
}

/** Only what the operator chose goes into the body, so the controller's defaults stay the defaults. */
export function buildCutoverRequest(hosts: string[], o: CutoverOptions): CutoverRequest {
  if (hosts.length === 0) throw new UsageError("give at least one host");
  if (new Set(hosts).size !== hosts.length) throw new UsageError("a host is given twice");
  if (o.interval !== undefined && !o.canary) throw new UsageError("--interval goes with --canary");
  if (o.preflight === false && (o.probePath !== undefined || o.probeTimeout !== undefined)) {
    throw new UsageError("--probe-path and --probe-timeout configure the preflight that --no-preflight turns off");
  }
  const body: CutoverRequest = { ...(hosts.length === 1 ? { host: hosts[0] as string } : { hosts }), to: o.to };
  if (o.from !== undefined) body.from = o.from;
  if (o.canary) body.strategy = { canary: { steps: o.canary, interval: o.interval ?? "30s" } };
  if (o.preflight === false) body.preflight = false;
  else if (o.probePath !== undefined || o.probeTimeout !== undefined) {
    body.preflight = { ...(o.probePath === undefined ? {} : { path: o.probePath }), ...(o.probeTimeout === undefined ? {} : { timeout: o.probeTimeout }) };
  }
  if (o.ackTimeout !== undefined) body.ackTimeout = o.ackTimeout;
  if (o.bake !== undefined) body.bake = o.bake;
  if (o.maxErrorRate !== undefined || o.minRequests !== undefined) {
    body.rollback = { ...(o.maxErrorRate === undefined ? {} : { maxErrorRate: o.maxErrorRate }), ...(o.minRequests === undefined ? {} : { minRequests: o.minRequests }) };
  }
  if (o.at !== undefined) body.at = o.at;
  return body;
}

export async function startCutover(ctx: Ctx, hosts: string[], o: CutoverOptions): Promise<number> {
  const body = buildCutoverRequest(hosts, o);
  const { id } = await ctx.client.request<{ id: string }>("POST", "/v1/cutovers", body);
  if (typeof id !== "string" || id === "") throw new CliError("the controller accepted the cutover but sent no id");
  if (!o.watch) {
    if (ctx.json) printJson(ctx, { id });
    else ctx.out(`cutover ${id} started; follow it with: switchyard cutover-status ${id}\n`);
    return 0;
  }
  if (!ctx.json) ctx.out(`cutover ${id} started; watching (Ctrl-C stops watching, not the cutover)\n`);
  return watchCutover(ctx, id);
}

export async function watchCutover(ctx: Ctx, id: string): Promise<number> {
  const renderer = new ProgressRenderer();
  const final = await followCutover(
    ctx.client,
    id,
    (c) => {
      // One JSON document per line, so `--json --watch` pipes into jq or a log shipper.
      if (ctx.json) ctx.out(JSON.stringify(c) + "\n");
      else for (const line of renderer.update(c)) ctx.out(line + "\n");
    },
    ctx.watch,
  );
  return final.state === "succeeded" ? 0 : 1;
}

export async function listCutovers(ctx: Ctx): Promise<number> {
  const list = await ctx.client.get<Cutover[]>("/v1/cutovers");
  if (ctx.json) printJson(ctx, list);
  else ctx.out(renderCutoverList(list));
  return 0;
}

export async function cutoverStatus(ctx: Ctx, id: string): Promise<number> {
  const c = await ctx.client.get<Cutover>(cutoverPath(id));
  if (ctx.json) printJson(ctx, c);
  else ctx.out(renderCutover(c));
  return 0;
}

export async function control(ctx: Ctx, id: string, action: "abort" | "promote"): Promise<number> {
  const res = await ctx.client.request<{ id: string; state: string }>("POST", `${cutoverPath(id)}/${action}`);
  if (ctx.json) printJson(ctx, res);
  else ctx.out(`cutover ${res.id ?? id}: ${action} requested (state: ${res.state})\n`);
  return 0;
}
