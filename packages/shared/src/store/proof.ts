import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import type { Keys } from "../keys.js";
import type { AckMessage, AgentRecord } from "../protocol.js";

const PROOF_LUA = readFileSync(new URL("../lua/proof.lua", import.meta.url), "utf8");

interface ProofCommand {
  switchyardProof(record: string, index: string, ...argv: (string | number)[]): Promise<number>;
}

export interface ProofWrite {
  record: AgentRecord & { seenAt: number };
  /** The record expires this long after `seenAt`, and so does its entry in the live index. */
  ttlMs: number;
  /** Published on `keys.acks` in the same step as the record is written. */
  ack?: AckMessage;
  /** Also drop index entries that expired before this time (ms): dead agents' leftovers. */
  pruneBefore?: number;
}

/** Writes agent records (and acks) through proof.lua: one atomic command per heartbeat or ack. */
export class ProofWriter {
  private readonly redis: Redis & ProofCommand;

  constructor(redis: Redis, private readonly keys: Keys) {
    if (!("switchyardProof" in redis)) redis.defineCommand("switchyardProof", { numberOfKeys: 2, lua: PROOF_LUA });
    this.redis = redis as Redis & ProofCommand;
  }

  /** Resolves with the number of subscribers that received the ack (0 without one). */
  send(w: ProofWrite): Promise<number> {
    const { record, ttlMs, ack, pruneBefore } = w;
    return this.redis.switchyardProof(
      this.keys.agent(record.id),
      this.keys.agents,
      JSON.stringify(record),
      ttlMs,
      record.id,
      record.seenAt + ttlMs,
      ack ? this.keys.acks : "",
      ack ? JSON.stringify(ack) : "",
      pruneBefore === undefined ? "" : pruneBefore,
    );
  }
}
