import express, { Router } from "express";
import { z } from "zod";
import {
  Host, Op, Pool, PoolName, Route, Upstream, ValidationError, WriteRefused, copyDict, dictOf, parseOrThrow, referenceProblems, describeOp, type State, type StoreReader,
} from "@switchyard/shared";
import { requireWrite } from "./auth.js";
import { requireJson } from "./config-api.js";
import { MAX_BATCH_OPS, converge } from "./converge.js";
import { ApiError, methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";
import { queryFlag } from "./seed-api.js";
import { WRITE_PARAMS, commit, type WriteDeps } from "./write.js";

/** Batches and whole states are bigger than one entity: 10k routes fit in about 1 MiB of JSON. */
export const BATCH_BODY_LIMIT = "4mb";
const batchJson = express.json({ limit: BATCH_BODY_LIMIT, strict: true });

export const ChangesBody = z.strictObject({ ops: z.array(Op).min(1).max(MAX_BATCH_OPS) });

/** The state as `GET /v1/state` shows it, without the revision. With prune (the default) an absent part means empty (no default, no pools, no routes). */
export const StateBody = z.strictObject({
  defaultUpstream: Upstream.nullable().optional(),
  pools: dictOf(PoolName, Pool).optional(),
  routes: dictOf(Host, Route).optional(),
});

/** A refusal of op i in a batch names the op (`field: ops.<i>`), with the status a single write gets. */
function batchRefusal(err: unknown, ops: Op[]): unknown {
  if (!(err instanceof WriteRefused) || err.refusal.code === "rev_mismatch" || err.refusal.code === "uninitialized") return err;
  const r = err.refusal;
  const field = `ops.${r.opIndex}`;
  const what = `op ${r.opIndex + 1} (${describeOp(ops[r.opIndex] as Op)})`;
  switch (r.code) {
    case "missing_pool":
      return new ApiError(400, "invalid", `${what}: pool '${r.pool}' does not exist`, field);
    case "pool_in_use":
      return new ApiError(409, "conflict", `${what}: pool '${r.pool}' is still used by ${r.referrers.map((x) => (x === "@default" ? "the default upstream" : `route ${x}`)).join(", ")}`, field);
    case "not_found":
      return new ApiError(404, "not_found", `${what}: it does not exist`, field);
    default:
      return err;
  }
}

/** Hosts that normalize to the same name (`A.com` and `a.com`) would silently collapse into one route. */
function sameHostTwice(raw: unknown): string | undefined {
  const routes = (raw as { routes?: unknown })?.routes;
  if (routes === null || typeof routes !== "object") return undefined;
  const seen = new Map<string, string>();
  for (const key of Object.keys(routes)) {
    const parsed = Host.safeParse(key);
    if (!parsed.success) continue;
    const first = seen.get(parsed.data);
    if (first !== undefined) return `routes '${first}' and '${key}' are the same host (${parsed.data})`;
    seen.set(parsed.data, key);
  }
  return undefined;
}

/** Atomic batches and config as code: `POST /v1/changes` and `PUT /v1/state`, each one revision. */
export function stateApi(deps: WriteDeps & { reader: StoreReader }): Router {
  const r = Router();

  r.route("/v1/changes")
    .post(accepts(...WRITE_PARAMS), requireWrite, requireJson, batchJson, async (req, res) => {
      const { ops } = parseOrThrow(ChangesBody, req.body);
      await commit(deps, req, res, ops).catch((err: unknown) => {
        throw batchRefusal(err, ops);
      });
    })
    .all(methodNotAllowed(["POST"]));

  r.route("/v1/state")
    .put(accepts("prune", ...WRITE_PARAMS), requireWrite, requireJson, batchJson, async (req, res) => {
      const body = parseOrThrow(StateBody, req.body);
      const twice = sameHostTwice(req.body);
      if (twice) throw new ApiError(400, "invalid", twice, "routes");
      const prune = req.query.prune === undefined ? true : queryFlag(req, "prune");
      await converge(deps, req, res, async () => {
        const current = await deps.reader.snapshot();
        const c = current.state;
        const target: State = prune
          ? { defaultUpstream: body.defaultUpstream ?? null, pools: body.pools ?? copyDict({}), routes: body.routes ?? copyDict({}) }
          : {
              defaultUpstream: body.defaultUpstream === undefined ? c.defaultUpstream : body.defaultUpstream,
              pools: Object.assign(copyDict(c.pools), body.pools),
              routes: Object.assign(copyDict(c.routes), body.routes),
            };
        const problems = referenceProblems(target);
        if (problems.length > 0) throw new ValidationError(problems);
        return { current, target };
      }, { prune });
    });
  // Other methods on /v1/state fall through to read-api.ts (GET, and the 405 naming GET and PUT).

  return r;
}
