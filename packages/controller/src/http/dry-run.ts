import type { Request, Response } from "express";
import { WriteRefused, checkOps, diffStates, type DiffEntry, type Op, type Snapshot, type StoreReader } from "@switchyard/shared";
import type { ControllerMetrics } from "../metrics.js";
import { ApiError } from "./errors.js";

/**
 * `?dryRun=true` on a write: every check the write would run (schema, references, If-Match, pool
 * in use: the same 4xx), then `200 {dryRun: true, revision, diff}` instead of the write. Nothing
 * is written, published or audited. The checks against the state are `checkOps` (shared diff.ts),
 * which refuses exactly as write.lua does, on one atomic snapshot.
 */

/** `dryRun=true|false`; validated before anything is read. A dry run has nothing to wait for. */
export function dryRunRequested(req: Request): boolean {
  const v = req.query.dryRun;
  if (v === undefined || v === "false") return false;
  if (v !== "true") throw new ApiError(400, "invalid", "dryRun must be true or false", "dryRun");
  if (req.query.wait !== undefined) throw new ApiError(400, "invalid", "a dry run writes nothing, so there is nothing to wait for: drop wait", "wait");
  if (req.query.timeout !== undefined) throw new ApiError(400, "invalid", "timeout goes with wait=applied, not with a dry run", "timeout");
  return true;
}

/** The current snapshot, refused with the 412 a real write would get when If-Match names another revision. */
export async function currentState(reader: StoreReader, ifMatch: number | undefined): Promise<Snapshot> {
  const snap = await reader.snapshot();
  if (ifMatch !== undefined && ifMatch !== snap.revision) throw new WriteRefused({ code: "rev_mismatch", current: snap.revision });
  return snap;
}

export function answerDryRun(res: Response, metrics: ControllerMetrics, revision: number, diff: DiffEntry[], extra: Record<string, unknown> = {}): void {
  metrics.writes.inc({ result: "dry_run" });
  res.setHeader("ETag", `"${revision}"`).json({ dryRun: true, revision, diff, ...extra });
}

/** Rehearses `ops` on the current state (or on `snap`, already read and checked by the caller). */
export async function rehearse(deps: { reader: StoreReader; metrics: ControllerMetrics }, res: Response, ops: Op[], ifMatch: number | undefined, snap?: Snapshot): Promise<void> {
  const current = snap ?? (await currentState(deps.reader, ifMatch));
  answerDryRun(res, deps.metrics, current.revision, diffStates(current.state, checkOps(current.state, ops)));
}
