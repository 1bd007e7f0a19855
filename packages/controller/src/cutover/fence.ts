import { WriteRefused, type Op, type StoreReader, type StoreWriter } from "@switchyard/shared";

/** The cutover must stop without writing: someone else changed its hosts, or it cannot tell. */
export class FenceBroken extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FenceBroken";
  }
}

export interface FenceDeps {
  reader: StoreReader;
  writer: StoreWriter;
}

const RETRIES = 5;

/**
 * Writes `ops` only if nothing touched `hosts` since revision `since` (the cutover's last own write).
 *
 * The store's compare-and-set is on the whole fleet's revision. When it refuses, the change log
 * between `since` and now says why:
 * - an entry written under this very `actor` is this step, already applied by a run that died
 *   before recording it (jobs are at-least-once): it is adopted, never applied twice;
 * - an entry from another step of the same cutover (same `cutover:<id>/` prefix) is its own
 *   earlier write: not a conflict, so re-base over it (a restore after an unrecorded step);
 * - an entry touching one of `hosts` is a concurrent manual switch: FenceBroken, nothing written;
 * - anything else (other hosts, pool edits) is unrelated: re-base on the new revision and retry.
 * A log trimmed past `since` cannot be verified, so that is FenceBroken too.
 */
export async function fencedWrite(
  deps: FenceDeps,
  ops: Op[],
  actor: string,
  hosts: readonly string[],
  since: number,
): Promise<{ revision: number; adopted: boolean }> {
  let base = since;
  const own = actor.slice(0, actor.indexOf("/") + 1);
  for (let attempt = 0; attempt < RETRIES; attempt++) {
    try {
      const { revision } = await deps.writer.write(ops, { actor, expectedRevision: base });
      return { revision, adopted: false };
    } catch (err) {
      if (!(err instanceof WriteRefused) || err.refusal.code !== "rev_mismatch") throw err;
    }
    const log = await deps.reader.changesSince(base, deps.writer.epoch);
    if (log.kind === "other_epoch") throw new FenceBroken(`the store changed lineage (now ${log.epoch ?? "uninitialised"}); the cutover stopped`);
    if (log.kind === "snapshot_required") throw new FenceBroken(`cannot verify the writes after revision ${base}: ${log.reason}`);
    if (log.kind === "current") continue;
    let ours: number | undefined;
    for (const change of log.changes) {
      if (change.actor === actor) {
        ours = change.rev;
        continue;
      }
      if (own !== "" && change.actor.startsWith(own)) continue;
      const touched = change.ops.find((op) => (op.op === "route.put" || op.op === "route.del") && hosts.includes(op.host));
      if (touched && "host" in touched) {
        throw new FenceBroken(`concurrent write to ${touched.host} at revision ${change.rev} by '${change.actor}'; the cutover stopped without overwriting it`);
      }
    }
    if (ours !== undefined) return { revision: Math.max(ours, log.revision), adopted: true };
    base = log.revision;
  }
  throw new FenceBroken(`the fleet revision kept moving; gave up after ${RETRIES} attempts`);
}
