// The options every write command shares, and how a write's answer is printed. New write-wide
// options (such as `--dry-run`, once the controller answers `?dryRun=true`) belong here.
import type { Command } from "commander";
import { formatDuration } from "@switchyard/shared/duration";
import type { Ctx } from "./context.js";
import { printJson } from "./context.js";
import { UsageError } from "./errors.js";
import { parseRevision, parseWaitTimeout } from "./parse.js";
import { isWaitResult } from "./render.js";
import type { WaitResult, WriteResult } from "./types.js";

export interface WriteOptions {
  wait?: boolean;
  timeout?: number;
  ifMatch?: number;
}

/** Adds `--wait`, `--timeout` and `--if-match` to a write command. */
export function writeOptions(cmd: Command): Command {
  return cmd
    .option("--wait", "wait until every live agent applied the change; exit 1 if some did not")
    .option("--timeout <duration>", "how long --wait waits, such as 10s or 1m30s (default 5s, at most 2m)", parseWaitTimeout)
    .option("--if-match <revision>", "write only if the fleet is still at this revision (else 412, nothing written)", parseRevision);
}

/** Sends one write with the shared options; prints `describe(result)` and the wait report. */
export async function write(
  ctx: Ctx,
  method: "PUT" | "DELETE",
  path: string,
  body: unknown,
  o: WriteOptions,
  describe: (r: WriteResult) => string,
): Promise<number> {
  if (o.timeout !== undefined && !o.wait) throw new UsageError("--timeout goes with --wait");
  const timeoutMs = o.timeout ?? 5000;
  const query = o.wait ? `?wait=applied&timeout=${timeoutMs}` : "";
  const result = await ctx.client.request<WriteResult | WaitResult>(method, path + query, body, {
    // The controller may legitimately hold the answer for the whole wait.
    ...(o.wait ? { timeoutMs: timeoutMs + 15_000 } : {}),
    ...(o.ifMatch !== undefined ? { headers: { "If-Match": `"${o.ifMatch}"` } } : {}),
  });
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
