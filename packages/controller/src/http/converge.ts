import type { Request, Response } from "express";
import { WriteRefused, diffStates, opsToReach, type Snapshot, type State } from "@switchyard/shared";
import { answerDryRun, dryRunRequested } from "./dry-run.js";
import { ApiError } from "./errors.js";
import { expectedRevision, waitRequest, writeAndWait, type WriteDeps } from "./write.js";

/** Ops one revision may hold: `POST /v1/changes` refuses more, `PUT /v1/state` and rollback too (split the change). */
export const MAX_BATCH_OPS = 10_000;
// Without If-Match a write that raced another one re-reads and recomputes, a bounded number of times.
const ATTEMPTS = 5;

export interface Plan {
  /** The state the target was computed from; the write's compare-and-set is on its revision. */
  current: Snapshot;
  target: State;
}

/**
 * Makes the fleet's state equal to a target (`PUT /v1/state`, rollback): the diff, the ops that
 * reach it (shared diff.ts), one revision, `{revision, changed, diff, ...extra}` (with the wait
 * result for `?wait=applied`). A target equal to the current state writes nothing: `changed: false`
 * and the current revision (a wait then waits for the fleet to have applied that one). `?dryRun`
 * answers the diff. `plan` is re-run when another write lands between the read and the write.
 */
export async function converge(deps: WriteDeps, req: Request, res: Response, plan: () => Promise<Plan>, extra: Record<string, unknown> = {}, note?: string): Promise<void> {
  const ifMatch = expectedRevision(req);
  const dry = dryRunRequested(req);
  const wait = waitRequest(req);
  for (let attempt = 1; ; attempt++) {
    const { current, target } = await plan();
    if (ifMatch !== undefined && ifMatch !== current.revision) throw new WriteRefused({ code: "rev_mismatch", current: current.revision });
    const diff = diffStates(current.state, target);
    const ops = opsToReach(current.state, target);
    if (ops.length > MAX_BATCH_OPS) {
      throw new ApiError(413, "payload_too_large", `this change needs ${ops.length} ops; one revision holds at most ${MAX_BATCH_OPS}: apply it in parts (PUT /v1/state?prune=false)`);
    }
    if (dry) return answerDryRun(res, deps.metrics, current.revision, diff, extra);
    if (ops.length === 0) {
      deps.metrics.writes.inc({ result: "noop" });
      let result: object = { revision: current.revision };
      if (wait) result = await (await deps.acks.begin()).wait(current.revision, wait.timeoutMs, current.epoch);
      res.setHeader("ETag", `"${current.revision}"`).json({ ...result, changed: false, diff, ...extra });
      return;
    }
    try {
      const result = await writeAndWait(deps, req, ops, current.revision, note);
      res.setHeader("ETag", `"${result.revision}"`).json({ ...result, changed: true, diff, ...extra });
      return;
    } catch (err) {
      const raced = ifMatch === undefined && err instanceof WriteRefused && err.refusal.code === "rev_mismatch";
      if (!raced) throw err;
      if (attempt >= ATTEMPTS) throw new ApiError(409, "conflict", `the state kept changing under ${ATTEMPTS} attempts; try again`);
    }
  }
}
