// pools, pool get|set|delete, routes, route get|set|delete, default [get|set|unset]: the fleet's
// configuration, one entity per write; `apply -f` and `export`: the whole of it as a file, one
// revision per apply (PUT /v1/state); `pool health`: each agent's view of a pool's targets.
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { YAMLParseError, parse as parseYaml, stringify as toYaml } from "yaml";
import { printJson, type Act, type Ctx } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import { parseCount, parseRule, parseTarget, parseUpstream } from "../parse.js";
import { renderPool, renderPoolHealth, renderPools, renderRoute, renderRoutes } from "../render-config.js";
import { describeConverge } from "../render-diff.js";
import { describeRoute, describeUpstream } from "../render.js";
import type { ConvergeResult, FleetState, Pool, PoolHealthView, Route, Upstream } from "../types.js";
import { write, writeOptions, type WriteOptions } from "../write.js";

const poolPath = (name: string) => `/v1/pools/${encodeURIComponent(name)}`;
const routePath = (host: string) => `/v1/routes/${encodeURIComponent(host)}`;
const state = (ctx: Ctx) => ctx.client.get<FleetState>("/v1/state");

async function show<T>(ctx: Ctx, path: string, render: (v: T) => string): Promise<number> {
  const v = await ctx.client.get<T>(path);
  if (ctx.json) printJson(ctx, v);
  else ctx.out(render(v));
  return 0;
}

export async function listPools(ctx: Ctx): Promise<number> {
  const s = await state(ctx);
  if (ctx.json) printJson(ctx, { revision: s.revision, pools: s.pools });
  else ctx.out(renderPools(s));
  return 0;
}

export function setPool(ctx: Ctx, name: string, targets: Pool["targets"], o: WriteOptions & { keepalive?: number }): Promise<number> {
  const pool: Pool = { targets, ...(o.keepalive === undefined ? {} : { keepalive: o.keepalive }) };
  return write(ctx, "PUT", poolPath(name), pool, o, (r) => `pool ${name}: ${targets.length} target${targets.length === 1 ? "" : "s"} at revision ${r.revision}`);
}

export async function listRoutes(ctx: Ctx): Promise<number> {
  const s = await state(ctx);
  if (ctx.json) printJson(ctx, { revision: s.revision, routes: s.routes });
  else ctx.out(renderRoutes(s));
  return 0;
}

export function setRoute(ctx: Ctx, host: string, upstream: Upstream | undefined, o: WriteOptions & { rule?: Route["rules"] }): Promise<number> {
  if ((upstream === undefined) === (o.rule === undefined)) throw new UsageError("give either UPSTREAM or one or more --rule PATH=UPSTREAM");
  const route: Route = upstream !== undefined ? { upstream } : { rules: o.rule ?? [] };
  return write(ctx, "PUT", routePath(host), route, o, (r) => `${host} -> ${describeRoute(route)} at revision ${r.revision}`);
}

export async function getDefault(ctx: Ctx): Promise<number> {
  const s = await state(ctx);
  if (ctx.json) printJson(ctx, { revision: s.revision, upstream: s.defaultUpstream });
  else ctx.out(`default  ${describeUpstream(s.defaultUpstream)}${s.defaultUpstream === null ? " (unmatched hosts get 404 no_route)" : ""}\n`);
  return 0;
}

export function setDefault(ctx: Ctx, upstream: Upstream | null, o: WriteOptions): Promise<number> {
  return write(ctx, "PUT", "/v1/default", { upstream }, o, (r) => (upstream === null ? `default unset at revision ${r.revision}` : `default -> ${describeUpstream(upstream)} at revision ${r.revision}`));
}

/** The state a file describes: YAML or JSON (JSON is YAML), `{defaultUpstream?, pools?, routes?}`. */
export function readStateFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    // The controller validates the content; YAML's own limits (alias expansion) guard the parse.
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new CliError(`${file} is not valid YAML or JSON: ${err instanceof YAMLParseError ? err.message.split("\n")[0] : (err as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new CliError(`${file} must hold a mapping with defaultUpstream, pools and routes (as switchyard export writes)`);
  return doc as Record<string, unknown>;
}

/**
 * `apply -f FILE`: one revision that makes the fleet match the file. Without `--prune` pools and
 * routes the file does not name are kept (and the default, when the file has none), as kubectl
 * apply keeps what it did not create; `--prune` deletes them.
 */
export function applyState(ctx: Ctx, o: WriteOptions & { file: string; prune?: boolean }): Promise<number> {
  const body = readStateFile(o.file);
  return write<ConvergeResult>(ctx, "PUT", "/v1/state", body, o, (r) => describeConverge(r, `applied ${o.file}`, `the fleet already matches ${o.file}`), { query: { prune: o.prune ? "true" : "false" } });
}

/** `export`: the state as `apply -f` takes it, keys sorted so a file in git diffs cleanly. */
export async function exportState(ctx: Ctx): Promise<number> {
  const { revision, ...s } = await state(ctx);
  const doc = { defaultUpstream: s.defaultUpstream, pools: s.pools, routes: s.routes };
  if (ctx.json) printJson(ctx, doc);
  else ctx.out(`# switchyard state at revision ${revision}; apply it with: switchyard apply -f FILE\n` + toYaml(doc, { sortMapEntries: true }));
  return 0;
}

export function registerConfig(program: Command, act: Act): void {
  writeOptions(
    program
      .command("apply")
      .description("make the fleet match a state file (YAML or JSON, as export writes it) in one revision; prints the diff")
      .requiredOption("-f, --file <file>", "the state file")
      .option("--prune", "also delete pools and routes the file does not name, and unset the default when it has none"),
  ).action(act((c, o: WriteOptions & { file: string; prune?: boolean }) => applyState(c, o)));
  program.command("export").description("print the fleet's state as YAML (--json: JSON), ready for apply -f").action(act((c) => exportState(c)));

  program.command("pools").description("pools with their targets, keepalive and the routes that use them").action(act((c) => listPools(c)));

  const pool = program.command("pool").description("one pool: get, set or delete");
  pool.command("get").description("a pool's targets and keepalive").argument("<name>").action(act((c, name: string) => show<Pool & { name: string }>(c, poolPath(name), (p) => renderPool(name, p))));
  writeOptions(
    pool
      .command("set")
      .description("create or replace a pool: ADDRESS or ADDRESS=WEIGHT per target (weight 1-100, default 1)")
      .argument("<name>", "pool name, such as blue")
      .argument("<targets...>", "10.0.0.1:8080, [::1]:8080=3, unix:/run/app.sock", (raw: string, prev: Pool["targets"] = []) => [...prev, parseTarget(raw)])
      .addOption(new Option("--keepalive <n>", "idle upstream connections kept per target (controller default 32)").argParser(parseCount)),
  ).action(act((c, name: string, targets: Pool["targets"], o: WriteOptions & { keepalive?: number }) => setPool(c, name, targets, o)));
  pool
    .command("health")
    .description("each live agent's view of the pool's targets: healthy, unhealthy, ejected, draining or slow_start")
    .argument("<name>")
    .action(act((c, name: string) => show<PoolHealthView[]>(c, `${poolPath(name)}/health`, (v) => renderPoolHealth(name, v))));
  writeOptions(pool.command("delete").description("delete a pool (409 while a route or the default uses it)").argument("<name>")).action(
    act((c, name: string, o: WriteOptions) => write(c, "DELETE", poolPath(name), undefined, o, (r) => `pool ${name} deleted at revision ${r.revision}`)),
  );

  program.command("routes").description("routes by host with their upstream or path rules").action(act((c) => listRoutes(c)));

  const route = program.command("route").description("one route: get, set or delete");
  route.command("get").description("a route's upstream or path rules").argument("<host>").action(act((c, host: string) => show<Route & { host: string }>(c, routePath(host), (r) => renderRoute(host, r))));
  writeOptions(
    route
      .command("set")
      .description("create or replace a route: one UPSTREAM for every path, or --rule per path prefix")
      .argument("<host>", "route host, such as demo.local or *.example.com")
      .argument("[upstream]", "pool, address or pool=weight,... split", parseUpstream)
      .option("--rule <path=upstream>", "a path prefix and its upstream, such as /api/=green (repeat; longest prefix wins)", (raw: string, prev?: Route["rules"]) => parseRule(raw, prev)),
  ).action(act((c, host: string, upstream: Upstream | undefined, o: WriteOptions & { rule?: Route["rules"] }) => setRoute(c, host, upstream, o)));
  writeOptions(route.command("delete").description("delete a route (its host then falls back to the default upstream)").argument("<host>")).action(
    act((c, host: string, o: WriteOptions) => write(c, "DELETE", routePath(host), undefined, o, (r) => `route ${host} deleted at revision ${r.revision}`)),
  );

  const def = program.command("default").description("the default upstream, used when no route matches (no subcommand: get)").action(act((c) => getDefault(c)));
  def.command("get").description("print the default upstream").action(act((c) => getDefault(c)));
  writeOptions(def.command("set").description("set the default upstream").argument("<upstream>", "pool, address or split", parseUpstream)).action(
    act((c, upstream: Upstream, o: WriteOptions) => setDefault(c, upstream, o)),
  );
  writeOptions(def.command("unset").description("remove the default upstream: unmatched hosts get 404 no_route")).action(act((c, o: WriteOptions) => setDefault(c, null, o)));
}
