import type { Request, Response } from "express";
import type { Logger } from "pino";
import type { Op, StoreWriter, WriteResult } from "@switchyard/shared";
import { ApiError } from "./errors.js";

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
  log: Logger;
}

/** Writes ops as the request's principal; `expected` overrides the request's If-Match. */
export async function write(deps: WriteDeps, req: Request, ops: Op[], expected = expectedRevision(req)): Promise<WriteResult> {
  const actor = req.principal?.name ?? "unknown";
  const result = await deps.writer.write(ops, { actor, ...(expected === undefined ? {} : { expectedRevision: expected }) });
  deps.log.info({ actor, revision: result.revision, ops: ops.map((o) => o.op) }, "committed");
  return result;
}

/** The write flow's HTTP end: REST -> store -> Lua script -> publish. Answers 200 { revision }. */
export async function commit(deps: WriteDeps, req: Request, res: Response, ops: Op[]): Promise<void> {
  const { revision } = await write(deps, req, ops);
  res.setHeader("ETag", `"${revision}"`);
  res.json({ revision });
}
