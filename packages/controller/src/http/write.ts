import type { Request, Response } from "express";
import type { Logger } from "pino";
import type { Op, StoreReader, StoreWriter, WriteResult } from "@switchyard/shared";
import type { AckWatcher, WaitResult } from "../fleet/acks.js";
import type { ControllerMetrics } from "../metrics.js";
import { dryRunRequested, rehearse } from "./dry-run.js";
import type { StoreGuard } from "../store/guard.js";
import { ApiError } from "./errors.js";

export const MAX_WAIT_MS = 120_000;
/** The wait parameters (see waitRequest); write routes declare them, with dryRun, as accepts(...WRITE_PARAMS). */
export const WAIT_PARAMS = ["wait", "timeout"] as const;
/** The query parameters of every write endpoint: the wait parameters and `dryRun` (see dry-run.ts). */
export const WRITE_PARAMS = [...WAIT_PARAMS, "dryRun"] as const;
const DEFAULT_WAIT_MS = 5000;

/** `?wait=applied&timeout=MS`; validated before anything is written. */
export function waitRequest(req: Request): { timeoutMs: number } | undefined {
  const { wait, timeout } = req.query;
  if (wait === undefined) {
    if (timeout !== undefined) throw new ApiError(400, "invalid", "timeout goes with wait=applied", "timeout");
    return undefined;
  }
  if (wait !== "applied") throw new ApiError(400, "invalid", "wait must be 'applied'", "wait");
  if (timeout === undefined) return { timeoutMs: DEFAULT_WAIT_MS };
  const ms = typeof timeout === "string" && /^\d{1,6}$/.test(timeout) ? Number(timeout) : NaN;
  if (!(ms >= 1 && ms <= MAX_WAIT_MS)) throw new ApiError(400, "invalid", `timeout must be an integer from 1 to ${MAX_WAIT_MS} (ms)`, "timeout");
  return { timeoutMs: ms };
}

/** `If-Match: "<revision>"` (or `*`, or a bare number) -> the revision a write expects. */
export function expectedRevision(req: Request): number | undefined {
  const raw = req.headers["if-match"];
  if (raw === undefined || raw.trim() === "*") return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(raw);
  if (!m) throw new ApiError(400, "invalid", 'If-Match must be a revision such as "42"', "If-Match");
  return Number(m[1]);
}

export interface WriteDeps {
  writer: StoreWriter;
  /** Dry-runs check against the current snapshot. */
  reader: StoreReader;
  acks: AckWatcher;
  metrics: ControllerMetrics;
  /** Refuses writes while Redis holds invalid entries (503 corrupt_state). */
  guard: StoreGuard;
  log: Logger;
}

/** Writes ops as the request's principal; `expected` overrides the request's If-Match; `note` says why (audited). */
export async function write(deps: WriteDeps, req: Request, ops: Op[], expected = expectedRevision(req), note?: string): Promise<WriteResult> {
  const actor = req.principal?.name ?? "unknown";
  await deps.guard.assertWritable();
  const result = await deps.writer.write(ops, { actor, ...(expected === undefined ? {} : { expectedRevision: expected }), ...(note ? { note } : {}) });
  deps.log.info({ actor, revision: result.revision, ops: ops.map((o) => o.op), ...(note ? { note } : {}) }, "committed");
  return result;
}

/**
 * Writes, then optionally waits until every agent that was live before the write has acked the
 * new revision (or the timeout passes). The fleet is listed before the write so an agent that
 * joins later cannot hold the answer up, and one that dies shows up in `missing`.
 */
export async function writeAndWait(deps: WriteDeps, req: Request, ops: Op[], expected = expectedRevision(req), note?: string): Promise<WaitResult | { revision: number }> {
  const wait = waitRequest(req);
  if (!wait) return write(deps, req, ops, expected, note).then(({ revision }) => ({ revision }));
  const pending = await deps.acks.begin();
  let revision: number;
  try {
    ({ revision } = await write(deps, req, ops, expected, note));
  } catch (err) {
    pending.cancel();
    throw err;
  }
  return pending.wait(revision, wait.timeoutMs, deps.writer.epoch);
}

/** The write flow's HTTP end: REST -> store -> Lua script -> publish. Answers 200 { revision }, or the diff for `?dryRun=true`. */
export async function commit(deps: WriteDeps, req: Request, res: Response, ops: Op[]): Promise<void> {
  if (dryRunRequested(req)) return rehearse(deps, res, ops, expectedRevision(req));
  const result = await writeAndWait(deps, req, ops);
  res.setHeader("ETag", `"${result.revision}"`);
  res.json(result);
}
