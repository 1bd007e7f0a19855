// audit: who changed what, newest first. `history` and `rollback REV` join this file once the
// controller serves /v1/revisions and /v1/rollback.
import { Option, type Command } from "commander";
import { printJson, type Act, type Ctx } from "../context.js";
import { parseLimit } from "../parse.js";
import { renderAudit } from "../render-config.js";
import type { AuditRecord } from "../types.js";

export async function audit(ctx: Ctx, o: { limit?: number }): Promise<number> {
  const records = await ctx.client.get<AuditRecord[]>(`/v1/audit${o.limit === undefined ? "" : `?limit=${o.limit}`}`);
  if (ctx.json) printJson(ctx, records);
  else ctx.out(renderAudit(records));
  return 0;
}

export function registerAudit(program: Command, act: Act): void {
  program
    .command("audit")
    .description("the audit log, newest first: revision, time, actor, action, target, before -> after")
    .addOption(new Option("--limit <n>", "how many records, 1 to 1000 (controller default 100)").argParser(parseLimit))
    .action(act((c, o: { limit?: number }) => audit(c, o)));
}
