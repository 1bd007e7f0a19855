// audit, history, history show and rollback: who changed what, and the way back.
import { Option, type Command } from "commander";
import { printJson, type Act, type Ctx } from "../context.js";
import { parseLimit, parseRevision } from "../parse.js";
import { renderAudit } from "../render-config.js";
import { describeConverge, renderRevision, renderRevisions } from "../render-diff.js";
import type { AuditRecord, ConvergeResult, RevisionDetail, RevisionSummary } from "../types.js";
import { write, writeOptions, type WriteOptions } from "../write.js";

export async function audit(ctx: Ctx, o: { limit?: number }): Promise<number> {
  const records = await ctx.client.get<AuditRecord[]>(`/v1/audit${o.limit === undefined ? "" : `?limit=${o.limit}`}`);
  if (ctx.json) printJson(ctx, records);
  else ctx.out(renderAudit(records));
  return 0;
}

export async function history(ctx: Ctx, o: { limit?: number; before?: number }): Promise<number> {
  const q = new URLSearchParams();
  if (o.limit !== undefined) q.set("limit", String(o.limit));
  if (o.before !== undefined) q.set("before", String(o.before));
  const list = await ctx.client.get<RevisionSummary[]>(`/v1/revisions${q.size ? `?${q}` : ""}`);
  if (ctx.json) printJson(ctx, list);
  else ctx.out(renderRevisions(list));
  return 0;
}

export async function showRevision(ctx: Ctx, rev: number): Promise<number> {
  const r = await ctx.client.get<RevisionDetail>(`/v1/revisions/${rev}`);
  if (ctx.json) printJson(ctx, r);
  else ctx.out(renderRevision(r));
  return 0;
}

export function rollback(ctx: Ctx, to: number, o: WriteOptions): Promise<number> {
  return write<ConvergeResult>(ctx, "POST", "/v1/rollback", { to }, o, (r) => describeConverge(r, `rolled back to the state of revision ${to}`, `the fleet is already in the state of revision ${to}`));
}

export function registerAudit(program: Command, act: Act): void {
  program
    .command("audit")
    .description("the audit log, newest first: revision, time, actor, action, target, before -> after")
    .addOption(new Option("--limit <n>", "how many records, 1 to 1000 (controller default 100)").argParser(parseLimit))
    .action(act((c, o: { limit?: number }) => audit(c, o)));

  const hist = program
    .command("history")
    .description("revisions in the change log, newest first: revision, time, actor, summary (history show REV: one in full)")
    .addOption(new Option("--limit <n>", "how many revisions, 1 to 1000 (controller default 100)").argParser(parseLimit))
    .addOption(new Option("--before <revision>", "only revisions below this one (paging)").argParser(parseRevision))
    .action(act((c, o: { limit?: number; before?: number }) => history(c, o)));
  hist.command("show").description("one revision: its ops and the values they replaced").argument("<revision>", "revision number", parseRevision).action(act((c, rev: number) => showRevision(c, rev)));

  writeOptions(
    program
      .command("rollback")
      .description("write one new revision whose state equals the state at REV (refused when the change log no longer reaches it)")
      .argument("<revision>", "the revision whose state to restore", parseRevision),
  ).action(act((c, rev: number, o: WriteOptions) => rollback(c, rev, o)));
}
