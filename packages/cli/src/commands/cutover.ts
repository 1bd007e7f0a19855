// cutover, cutovers, cutover-status, abort, promote: supervised switches run by the controller.
import { setTimeout as delay } from "node:timers/promises";
import { Option, type Command } from "commander";
import { formatDuration } from "@switchyard/shared/duration";
import { printJson, type Act, type Ctx } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import { parseAt, parseCount, parseDuration, parsePath, parseRate, parseSettleTimeout, parseSteps, parseUpstream } from "../parse.js";
import { ackLine, ProgressRenderer, renderCutover, renderCutoverList, restoreLine } from "../progress.js";
import { renderDryRun } from "../render-diff.js";
import { isTerminal, type Cutover, type CutoverRequest, type DryRunResult, type Upstream } from "../types.js";
import { cutoverPath, followCutover } from "../watch.js";

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

export async function startCutover(ctx: Ctx, hosts: string[], o: CutoverOptions & { dryRun?: boolean }): Promise<number> {
  const body = buildCutoverRequest(hosts, o);
  if (o.dryRun) {
    if (o.watch) throw new UsageError("--dry-run starts nothing, so there is nothing to --watch");
    return printDryRun(ctx, await ctx.client.request<DryRunResult>("POST", "/v1/cutovers?dryRun=true", body));
  }
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

/**
 * When an `abort` or `promote` has done its work: an abort once the original routes were written
 * back and the agents acked them (or nothing had been switched); a promote once the 100% step is
 * acked. Either way a terminal state ends the wait.
 */
export function settled(action: "abort" | "promote", c: Cutover): boolean {
  if (isTerminal(c.state)) return true;
  if (action === "abort") return !!c.restore && c.restore.revision !== null && c.restore.acks.length + c.restore.stragglers.length > 0;
  const last = c.steps.at(-1);
  return !!last && last.weight === 100 && last.revision !== null && last.acks.length + last.stragglers.length > 0;
}

function outcome(action: "abort" | "promote", c: Cutover): string {
  let out = `cutover ${c.id}: ${c.state}${c.reason ? `: ${c.reason}` : ""}\n`;
  if (c.restore?.revision != null) out += `restore: ${restoreLine(c.restore)}\n`;
  const last = c.steps.at(-1);
  if (action === "promote" && last && last.weight === 100 && last.revision !== null) out += `step ${last.index} (100%) at revision ${last.revision}, ${ackLine(last)}\n`;
  return out;
}

/** POSTs the control, then polls the cutover until `settled` (bounded by `timeout`) and prints the acks. */
function printDryRun(ctx: Ctx, r: DryRunResult): number {
  if (ctx.json) printJson(ctx, r);
  else ctx.out(renderDryRun(r));
  return 0;
}

export async function control(ctx: Ctx, id: string, action: "abort" | "promote", o: { wait?: boolean; timeout?: number; dryRun?: boolean }): Promise<number> {
  if (o.dryRun) return printDryRun(ctx, await ctx.client.request<DryRunResult>("POST", `${cutoverPath(id)}/${action}?dryRun=true`));
  const res = await ctx.client.request<{ id: string; state: string }>("POST", `${cutoverPath(id)}/${action}`);
  if (o.wait === false) {
    if (ctx.json) printJson(ctx, res);
    else ctx.out(`cutover ${res.id ?? id}: ${action} requested (state: ${res.state})\n`);
    return 0;
  }
  const timeoutMs = o.timeout ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  if (!ctx.json) ctx.out(`cutover ${res.id ?? id}: ${action} requested (state: ${res.state}); waiting for the agents' acks\n`);
  for (;;) {
    const c = await ctx.client.get<Cutover>(cutoverPath(id));
    if (settled(action, c)) {
      if (ctx.json) printJson(ctx, c);
      else ctx.out(outcome(action, c));
      // Success: the cutover ended the way the operator asked, and every live agent applied it.
      const stragglers = action === "abort" ? (c.restore?.stragglers ?? []) : (c.steps.at(-1)?.stragglers ?? []);
      const wanted: string[] = action === "abort" ? ["aborted", "rolled_back"] : ["succeeded"];
      return (!isTerminal(c.state) || wanted.includes(c.state)) && stragglers.length === 0 ? 0 : 1;
    }
    if (Date.now() >= deadline) {
      throw new CliError(`${action} requested, but cutover ${id} has not settled within ${formatDuration(timeoutMs)} (state: ${c.state}); follow it: switchyard cutover-status ${id} --watch`, "timeout");
    }
    await delay(Math.min(ctx.pollMs ?? 250, Math.max(1, deadline - Date.now())));
  }
}

export function registerCutover(program: Command, act: Act): void {
  program
    .command("cutover")
    .description("move one or more hosts to a new upstream, instantly or in canary steps, with health checks and automatic rollback")
    .argument("<hosts...>", "route hosts to move together")
    .requiredOption("--to <upstream>", "upstream to move to", parseUpstream)
    .option("--from <upstream>", "refuse unless every host is on this upstream now", parseUpstream)
    .option("--canary <steps>", "percentages of traffic per step, ending at 100, such as 5,25,50,100", parseSteps)
    .option("--interval <duration>", "watch time between canary steps, such as 30s or 1m30s (default 30s)", parseDuration)
    .option("--bake <duration>", "watch time after the last step (controller default 30s)", parseDuration)
    .option("--ack-timeout <duration>", "how long each step waits for agent acks (controller default 5s)", parseDuration)
    .option("--no-preflight", "skip probing the new targets from the edges first")
    .option("--probe-path <path>", "path the preflight probes (controller default /)", parsePath)
    .option("--probe-timeout <duration>", "timeout of each preflight probe", parseDuration)
    .option("--max-error-rate <rate>", "roll back above this error rate, such as 0.05 or 5% (controller default 0.05)", parseRate)
    .option("--min-requests <n>", "requests needed before the error rate counts (controller default 20)", parseCount)
    .option("--at <time>", "start at this ISO time with a zone, such as 2026-11-24T18:00:00Z", parseAt)
    .option("--watch", "follow progress live; exit 0 on succeeded, 1 otherwise")
    .option("--dry-run", "check the cutover and print its plan and what it would change; start nothing")
    .action(act((c, hosts: string[], o: CutoverOptions & { dryRun?: boolean }) => startCutover(c, hosts, o)));

  program.command("cutovers").description("list cutovers, newest first").action(act((c) => listCutovers(c)));

  program
    .command("cutover-status")
    .description("one cutover in detail; --watch follows it")
    .argument("<id>")
    .option("--watch", "follow progress live; exit 0 on succeeded, 1 otherwise")
    .action(act((c, id: string, o: { watch?: boolean }) => (o.watch ? watchCutover(c, id) : cutoverStatus(c, id))));

  const controls = [
    ["abort", "stop a cutover and restore the original routes; waits until the agents acked the restore"],
    ["promote", "skip the remaining canary steps and the bake: go to 100% now; waits until the agents acked it"],
  ] as const;
  for (const [action, description] of controls) {
    program
      .command(action)
      .description(description)
      .argument("<id>")
      .option("--no-wait", "return once the controller accepted the request")
      .addOption(new Option("--timeout <duration>", "how long to wait for the outcome (default 30s, at most 10m)").argParser(parseSettleTimeout))
      .option("--dry-run", `check the ${action} and print what it would change; request nothing`)
      .action(act((c, id: string, o: { wait?: boolean; timeout?: number; dryRun?: boolean }) => control(c, id, action, o)));
  }
}
