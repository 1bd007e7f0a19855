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
