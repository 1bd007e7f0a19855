/** Why a write script refused. Nothing was written in any of these cases. */
export type WriteRefusal =
  | { code: "rev_mismatch"; current: number }
  | { code: "missing_pool"; opIndex: number; pool: string }
  | { code: "pool_in_use"; opIndex: number; pool: string; referrers: string[] }
  | { code: "not_found"; opIndex: number }
  | { code: "bad_op"; opIndex: number }
  /** The store has no lineage (restarted empty, flushed) and is waiting for a restore or an explicit init. */
  | { code: "uninitialized"; knownEpoch: string | null };

export class WriteRefused extends Error {
  constructor(readonly refusal: WriteRefusal) {
    super(`write refused: ${refusal.code}`);
    this.name = "WriteRefused";
  }
}

/** Redis content that fails validation: never applied, never served back as if it were good. */
export class CorruptState extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CorruptState";
  }
}

/**
 * write.lua found Redis's clock past the write's deadline (the client's send time plus its command
 * timeout): the client has given up on it already, so nothing was written. A hung Redis, not a
 * refusal of the ops: retrying is safe.
 */
export class LateWrite extends Error {
  constructor(
    readonly redisNowMs: number,
    readonly deadlineMs: number,
  ) {
    super(`the write reached Redis ${redisNowMs - deadlineMs} ms after its deadline; nothing was written`);
    this.name = "LateWrite";
  }
}

/**
 * SWITCHYARD_MIN_REPLICAS: the revision is committed on the primary, but fewer replicas than
 * required confirmed it (Redis WAIT) in time, so a failover now could lose it.
 */
export class ReplicationShort extends Error {
  constructor(
    readonly revision: number,
    readonly confirmed: number,
    readonly required: number,
    readonly waitedMs: number,
  ) {
    super(`revision ${revision} is written on the primary, but only ${confirmed} of ${required} replicas confirmed it within ${waitedMs} ms: a failover now could lose it`);
    this.name = "ReplicationShort";
  }
}
