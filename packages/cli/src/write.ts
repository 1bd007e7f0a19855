// The options every write command shares, and how a write's answer is printed.
import type { Command } from "commander";
import { formatDuration } from "@switchyard/shared/duration";
import type { Ctx } from "./context.js";
import { printJson } from "./context.js";
import { UsageError } from "./errors.js";
import { parseRevision, parseWaitTimeout } from "./parse.js";
import { renderDryRun } from "./render-diff.js";
import { isWaitResult } from "./render.js";
import type { DryRunResult, WaitResult, WriteResult } from "./types.js";

export interface WriteOptions {
  wait?: boolean;
  timeout?: number;
  ifMatch?: number;
  dryRun?: boolean;
}

/** Adds `--wait`, `--timeout`, `--if-match` and `--dry-run` to a write command. */
export function writeOptions(cmd: Command): Command {
  return cmd
    .option("--wait", "wait until every live agent applied the change; exit 1 if some did not")
    .option("--timeout <duration>", "how long --wait waits, such as 10s or 1m30s (default 5s, at most 2m)", parseWaitTimeout)
    .option("--if-match <revision>", "write only if the fleet is still at this revision (else 412, nothing written)", parseRevision)
    .option("--dry-run", "run every check the write would, print what it would change, write nothing");
}

export const isDryRun = (r: unknown): r is DryRunResult => typeof r === "object" && r !== null && (r as { dryRun?: unknown }).dryRun === true;

/** Extra query parameters and headers of one endpoint (the seed's `host`, `upstream`, `create`). */
export interface WriteExtra {
  query?: Record<string, string>;
}

/**
 * Sends one write with the shared options; prints `describe(result)` and the wait report, or the
 * diff of a dry run. Exit 1 when `--wait` found agents that did not apply it.
 */
export async function write<R extends WriteResult = WriteResult>(
  ctx: Ctx,
  method: "PUT" | "DELETE" | "POST",
  path: string,
  body: unknown,
  o: WriteOptions,
  describe: (r: R) => string,
  extra: WriteExtra = {},
): Promise<number> {
  if (o.timeout !== undefined && !o.wait) throw new UsageError("--timeout goes with --wait");
  if (o.dryRun && o.wait) throw new UsageError("--dry-run writes nothing, so there is nothing to --wait for");
  const timeoutMs = o.timeout ?? 5000;
  const query = new URLSearchParams(extra.query);
  if (o.dryRun) query.set("dryRun", "true");
  if (o.wait) {
    query.set("wait", "applied");
    query.set("timeout", String(timeoutMs));
  }
  const qs = query.size > 0 ? `?${query}` : "";
  const result = await ctx.client.request<R | (R & WaitResult) | DryRunResult>(method, path + qs, body, {
    // The controller may legitimately hold the answer for the whole wait.
    ...(o.wait ? { timeoutMs: timeoutMs + 15_000 } : {}),
    ...(o.ifMatch !== undefined ? { headers: { "If-Match": `"${o.ifMatch}"` } } : {}),
  });
  if (isDryRun(result)) {
    if (ctx.json) printJson(ctx, result);
    else ctx.out(renderDryRun(result));
    return 0;
  }
  if (ctx.json) printJson(ctx, result);
  else ctx.out(describe(result) + "\n" + waitReport(result));
  if (isWaitResult(result) && !result.complete) {
    const message = `revision ${result.revision} was written but ${result.missing.length} agent(s) did not apply it within ${formatDuration(timeoutMs)}`;
    ctx.err(ctx.json ? JSON.stringify({ error: "not_applied", message, revision: result.revision, missing: result.missing }) + "\n" : `error: ${message}\n`);
    return 1;
  }
  return 0;
}

export function waitReport(result: WriteResult | WaitResult): string {
  if (!isWaitResult(result)) return "";
  const total = result.applied.length + result.missing.length;
  let out = `applied on ${result.applied.length}/${total} agents${total === 0 ? " (no live agents)" : ""}\n`;
  if (result.missing.length) out += `missing: ${result.missing.join(", ")}\n`;
  return out;
}
