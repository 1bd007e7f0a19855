import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Redis } from "ioredis";
import type { Keys } from "../keys.js";
import { routePools, upstreamPools } from "../model/refs.js";
import { ValidationError, zodProblems } from "../model/validate.js";
import { Op, newEpoch } from "../protocol.js";
import { LateWrite, WriteRefused, type WriteRefusal } from "./errors.js";

const WRITE_LUA = readFileSync(new URL("../lua/write.lua", import.meta.url), "utf8");

/** The change log keeps at least this many revisions so an agent that missed messages avoids a snapshot. */
export const MIN_LOG_CAP = 1000;

export interface WriteOptions {
  actor: string;
  /** Compare-and-set: refuse unless the current revision equals this. */
  expectedRevision?: number;
  /** Why this revision was written, such as "rollback to 12": kept in its log entry and audit records. */
  note?: string;
}

/**
 * The deadline write.lua enforces: now plus the connection's command timeout, the moment this
 * client stops waiting (and its caller answers 503). Without a command timeout, no deadline.
 */
function deadlineFor(redis: Redis): string {
  const timeout = redis.options.commandTimeout;
  return typeof timeout === "number" && timeout > 0 ? String(Date.now() + timeout) : "";
}

export interface WriteResult {
  revision: number;
  at: number;
  /** The lineage the revision belongs to: (epoch, revision) names the state. */
  epoch: string;
}

type WriteReply = [string, ...(string | number)[]];

interface WriteCommand {
  switchyardWrite(...args: (string | number)[]): Promise<WriteReply>;
}

/** Flattens one op into the four ARGV slots write.lua expects: type, key, value JSON, refs. */
function opArgs(op: Op): [string, string, string, string] {
  switch (op.op) {
    case "pool.put":
      return [op.op, op.name, JSON.stringify(op.pool), ""];
    case "pool.del":
      return [op.op, op.name, "", ""];
    case "route.put":
      return [op.op, op.host, JSON.stringify(op.route), routePools(op.route).join(" ")];
    case "route.del":
      return [op.op, op.host, "", ""];
    case "default.put":
      return [op.op, "", op.upstream === null ? "" : JSON.stringify(op.upstream), op.upstream === null ? "" : upstreamPools(op.upstream).join(" ")];
  }
}

function refusal(reply: WriteReply): WriteRefusal {
  const [code, a, b, c] = reply;
  const i = Number(a) - 1;
  switch (code) {
    case "rev_mismatch":
      return { code, current: Number(a) };
    case "missing_pool":
      return { code, opIndex: i, pool: String(b) };
    case "pool_in_use":
      return { code, opIndex: i, pool: String(b), referrers: String(c ?? "").split(" ").filter(Boolean) };
    case "not_found":
      return { code, opIndex: i };
    case "uninitialized":
      return { code, knownEpoch: String(a ?? "") || null };
    default:
      return { code: "bad_op", opIndex: i };
  }
}

const Ops = z.array(Op).min(1);

/**
 * The only path by which state enters Redis. Every op is validated here once more, whoever built
 * it (the API validated its input already; a cutover builds its steps and restores itself), so
 * nothing reaches Redis, the change log or an agent unvalidated. The script adds the checks that
 * need the current state (pool references, CAS).
 */
export class StoreWriter {
  private readonly redis: Redis & WriteCommand;
  /**
   * The newest lineage this writer has seen (its writes, or `noteEpoch` from whoever watches the
   * store). Once it knows one, an uninitialised store is a lost store, never a fresh install.
   */
  private knownEpoch: string | null = null;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly logCap: number,
    private readonly auditCap = 10_000,
  ) {
    if (!Number.isInteger(logCap) || logCap < MIN_LOG_CAP) throw new Error(`log cap must be an integer >= ${MIN_LOG_CAP}`);
    if (!("switchyardWrite" in redis)) redis.defineCommand("switchyardWrite", { numberOfKeys: 10, lua: WRITE_LUA });
    this.redis = redis as Redis & WriteCommand;
  }

  /** The lineage this writer knows, if any. */
  get epoch(): string | null {
    return this.knownEpoch;
  }

  /** Tells the writer the store's current lineage (a store watcher, or a restore/init that just ran). */
  noteEpoch(epoch: string): void {
    this.knownEpoch = epoch;
  }

  async write(ops: Op[], opts: WriteOptions): Promise<WriteResult> {
    if (ops.length === 0) throw new Error("a write needs at least one op");
    const checked = Ops.safeParse(ops);
    if (!checked.success) throw new ValidationError(zodProblems(checked.error, "ops"));
    ops = checked.data;
    const k = this.keys;
    const reply = await this.redis.switchyardWrite(
      k.rev, k.default, k.pools, k.routes, k.refcount, k.routeRefs, k.log, k.audit, k.epoch, k.offers,
      opts.expectedRevision === undefined ? "" : String(opts.expectedRevision),
      opts.actor,
      JSON.stringify(ops),
      this.logCap,
      this.auditCap,
      k.changes,
      ops.length,
      ...ops.flatMap(opArgs),
      deadlineFor(this.redis),
      this.knownEpoch ?? "",
      newEpoch(),
      opts.note ?? "", // the note stays the last ARGV (write.lua)
    );
    if (reply[0] === "late") throw new LateWrite(Number(reply[1]), Number(reply[2]));
    if (reply[0] !== "ok") throw new WriteRefused(refusal(reply));
    const epoch = String(reply[3]);
    this.knownEpoch = epoch;
    return { revision: Number(reply[1]), at: Number(reply[2]), epoch };
  }
}
