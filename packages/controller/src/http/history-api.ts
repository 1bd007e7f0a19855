import { Router } from "express";
import { z } from "zod";
import { HistoryOutOfReach, parseOrThrow, summarizeChange, type LoggedChange, type StoreHistory } from "@switchyard/shared";
import { requireWrite } from "./auth.js";
import { jsonBody, requireJson } from "./config-api.js";
import { converge } from "./converge.js";
import { ApiError, methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";
import { MAX_AUDIT } from "./read-api.js";
import { WRITE_PARAMS, type WriteDeps } from "./write.js";

export const RollbackBody = z.strictObject({ to: z.int().min(0).max(Number.MAX_SAFE_INTEGER) });

/** A revision number in a query or path: 1 to 15 digits. */
function revisionParam(raw: unknown, name: string, min: number): number {
  const n = typeof raw === "string" && /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min)) throw new ApiError(400, "invalid", `${name} must be a revision number of at least ${min}`, name);
  return n;
}

const summary = (c: LoggedChange) => ({
  revision: c.revision,
  at: new Date(c.at).toISOString(),
  actor: c.actor,
  summary: summarizeChange(c.ops, c.note),
  ...(c.note ? { note: c.note } : {}),
});

/**
 * History from the change log (the last SWITCHYARD_LOG_CAP revisions) and rollback to any
 * revision it still reaches: the state at R is computed from the log's undo records (shared
 * store/history.ts), written as one new revision audited with the note `rollback to R`.
 */
export function historyApi(deps: WriteDeps & { history: StoreHistory }): Router {
  const r = Router();

  r.route("/v1/revisions")
    .get(accepts("limit", "before"), async (req, res) => {
      const limit = req.query.limit === undefined ? 100 : revisionParam(req.query.limit, "limit", 1);
      if (limit > MAX_AUDIT) throw new ApiError(400, "invalid", `limit must be an integer from 1 to ${MAX_AUDIT}`, "limit");
      const before = req.query.before === undefined ? undefined : revisionParam(req.query.before, "before", 1);
      res.json((await deps.history.list(limit, before)).map(summary));
    })
    .all(methodNotAllowed(["GET"]));

  r.route("/v1/revisions/:rev")
    .get(accepts(), async (req, res) => {
      const rev = revisionParam(req.params.rev, "rev", 1);
      const change = await deps.history.get(rev);
      if (!change) throw new ApiError(404, "not_found", `revision ${rev} is not in the change log (it keeps the most recent revisions only, or it was never written)`);
      res.json({ ...summary(change), ops: change.ops, ...(change.before ? { before: change.before } : {}) });
    })
    .all(methodNotAllowed(["GET"]));

  r.route("/v1/rollback")
    .post(accepts(...WRITE_PARAMS), requireWrite, requireJson, jsonBody, async (req, res) => {
      const { to } = parseOrThrow(RollbackBody, req.body);
      const plan = async () => {
        try {
          const { current, state } = await deps.history.stateAt(to);
          return { current, target: state };
        } catch (err) {
          if (err instanceof HistoryOutOfReach) throw new ApiError(409, "history_trimmed", err.message, "to");
          if (err instanceof RangeError) throw new ApiError(400, "invalid", err.message, "to");
          throw err;
        }
      };
      await converge(deps, req, res, plan, { rolledBackTo: to }, `rollback to ${to}`);
    })
    .all(methodNotAllowed(["POST"]));

  return r;
}
