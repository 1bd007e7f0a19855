// status, agents and switch: the fleet at a glance and the one-line switch.
import type { Command } from "commander";
import { printJson, type Act, type Ctx } from "../context.js";
import { parseUpstream } from "../parse.js";
import { describeUpstream, renderAgents, renderStatus } from "../render.js";
import type { Agent, FleetState, Upstream } from "../types.js";
import { write, writeOptions, type WriteOptions } from "../write.js";

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

/**
 * `switch HOST UPSTREAM` goes through the seed's `/_switch_upstream`, so its rule is the
 * controller's: an unknown host is 404 unknown_host (a typo never creates a route) unless `--create`.
 */
export function switchRoute(ctx: Ctx, host: string, upstream: Upstream, o: WriteOptions & { create?: boolean }): Promise<number> {
  const query = { host, upstream: describeUpstream(upstream), ...(o.create ? { create: "true" } : {}) };
  return write(ctx, "POST", "/_switch_upstream", undefined, o, (r) => `${host} -> ${describeUpstream(upstream)} at revision ${r.revision}`, { query });
}

export function registerFleet(program: Command, act: Act): void {
  program.command("status").description("revision, default upstream, pools, routes and live agents").action(act((c) => status(c)));

  program.command("agents").description("live agents with their applied revision and lag").action(act((c) => agents(c)));

  writeOptions(
    program
      .command("switch")
      .description("point HOST at UPSTREAM: a pool, an address (10.0.0.1:8080, unix:/run/app.sock) or a split (blue=90,green=10)")
      .argument("<host>", "route host, such as demo.local or *.example.com")
      .argument("<upstream>", "pool, address or pool=weight,... split", parseUpstream)
      .option("--create", "create the route when HOST has none (without it an unknown host is refused: 404 unknown_host)"),
  ).action(act((c, host: string, upstream: Upstream, o: WriteOptions & { create?: boolean }) => switchRoute(c, host, upstream, o)));
}
