// store init: starting a fresh store is explicit (issue 12): a write token and --confirm.
import type { Command } from "commander";
import { printJson, type Act, type Ctx } from "../context.js";
import { UsageError } from "../errors.js";

export async function storeInit(ctx: Ctx, o: { confirm?: boolean }): Promise<number> {
  if (!o.confirm) {
    throw new UsageError("store init starts a fresh, empty store and drops the tables agents offered for a restore; repeat with --confirm");
  }
  const r = await ctx.client.request<{ epoch: string; revision: number }>("POST", "/v1/store/init?confirm=true");
  if (ctx.json) printJson(ctx, r);
  else ctx.out(`store initialised: epoch ${r.epoch}, revision ${r.revision}\n`);
  return 0;
}

export function registerStore(program: Command, act: Act): void {
  const store = program.command("store").description("the store's lineage");
  store
    .command("init")
    .description("start a fresh store when Redis lost its data and no agent table should be restored (needs a write token)")
    .option("--confirm", "yes, start fresh: required")
    .action(act((c, o: { confirm?: boolean }) => storeInit(c, o)));
}
