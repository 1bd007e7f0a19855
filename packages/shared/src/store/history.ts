import { z } from "zod";
import type { Redis } from "ioredis";
import { sameValue } from "../diff.js";
import type { Keys } from "../keys.js";
import { copyDict } from "../model/dict.js";
import { Pool, Route, Upstream, type State } from "../model/schema.js";
import { Op } from "../protocol.js";
import { CorruptState } from "./errors.js";
import { validateState, type Snapshot, type StoreReader } from "./read.js";

/**
 * The change log read as history: what each revision did, and the state at an earlier revision.
 *
 * The log keeps the last N revisions exactly (MAXLEN =, entry id `<rev>-0`), each with its ops and
 * `undo`: the value each op's key had just before it (write.lua). The state at R is today's
 * state with revisions now..R+1 undone, op by op in reverse. It is out of reach, never guessed,
 * when the log does not hold every revision after R, when one of them has no undo record (written
 * before undo records were kept), or when the log does not lead to today's state (an op's value is
 * not what its key holds when it is undone: the state was changed outside the write script).
 */

export interface LoggedChange {
  revision: number;
  at: number;
  actor: string;
  ops: Op[];
  /** For op i, the value its key had just before it ran (null when absent); undefined for entries written before undo records. */
  before?: unknown[];
  note?: string;
}

/** Rollback target out of reach: nothing is written. */
export class HistoryOutOfReach extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HistoryOutOfReach";
  }
}

const Ops = z.array(Op).min(1);

function fields(flat: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i] as string, flat[i + 1] as string);
  return out;
}

function parseEntry(id: string, flat: string[]): LoggedChange {
  const revision = Number(id.split("-")[0]);
  const f = fields(flat);
  let ops: unknown;
  let before: unknown;
  try {
    ops = JSON.parse(f.get("ops") ?? "");
    before = f.has("undo") ? JSON.parse(f.get("undo") as string) : undefined;
  } catch {
    throw new CorruptState(`log entry ${revision} is not valid JSON`);
  }
  const parsed = Ops.safeParse(ops);
  if (!parsed.success) throw new CorruptState(`log entry ${revision} fails validation`);
  if (before !== undefined && (!Array.isArray(before) || before.length !== parsed.data.length)) {
    throw new CorruptState(`log entry ${revision} has an undo record that does not match its ops`);
  }
  const note = f.get("note");
  return {
    revision,
    at: Number(f.get("at")),
    actor: f.get("actor") ?? "",
    ops: parsed.data,
    ...(before === undefined ? {} : { before: before as unknown[] }),
    ...(note ? { note } : {}),
  };
}

/** Where an op writes, what it leaves there (null = absent), and the schema of a value stored there. */
function slot(op: Op): { kind: "pools" | "routes" | "default"; key: string; after: unknown; schema: z.ZodType } {
  switch (op.op) {
    case "pool.put":
      return { kind: "pools", key: op.name, after: op.pool, schema: Pool };
    case "pool.del":
      return { kind: "pools", key: op.name, after: null, schema: Pool };
    case "route.put":
      return { kind: "routes", key: op.host, after: op.route, schema: Route };
    case "route.del":
      return { kind: "routes", key: op.host, after: null, schema: Route };
    case "default.put":
      return { kind: "default", key: "", after: op.upstream, schema: Upstream };
  }
}

/**
 * Undoes `changes` (ascending, contiguous, ending at `current`'s revision) from `current`, newest
 * op first. Pure; throws HistoryOutOfReach when the records cannot prove the result.
 */
export function undoChanges(current: State, changes: readonly LoggedChange[]): State {
  const s: State = { defaultUpstream: current.defaultUpstream, pools: copyDict(current.pools), routes: copyDict(current.routes) };
  for (let c = changes.length - 1; c >= 0; c--) {
    const change = changes[c] as LoggedChange;
    if (!change.before) throw new HistoryOutOfReach(`revision ${change.revision} was written before undo records were kept`);
    for (let i = change.ops.length - 1; i >= 0; i--) {
      const { kind, key, after, schema } = slot(change.ops[i] as Op);
      const holds = kind === "default" ? s.defaultUpstream : Object.hasOwn(s[kind], key) ? s[kind][key] : null;
      if (!sameValue(holds, after)) {
        throw new HistoryOutOfReach(`the change log does not lead to the current state (revision ${change.revision}, op ${i + 1}): it was changed outside the write script`);
      }
      const raw = change.before[i];
      const value = raw === null ? null : schema.safeParse(raw);
      if (value !== null && !value.success) throw new CorruptState(`log entry ${change.revision} has an invalid undo value for op ${i + 1}`);
      const v = value === null ? null : value.data;
      if (kind === "default") s.defaultUpstream = v as Upstream | null;
      else if (v === null) delete s[kind][key];
      else (s[kind] as Record<string, unknown>)[key] = v;
    }
  }
  return s;
}

export class StoreHistory {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly reader: StoreReader,
  ) {}

  /** Newest first: at most `limit` revisions below `before` (all, when undefined). */
  async list(limit: number, before?: number): Promise<LoggedChange[]> {
    if (before !== undefined && before <= 1) return [];
    const end = before === undefined ? "+" : `${before - 1}-0`;
    const entries = (await this.redis.xrevrange(this.keys.log, end, "-", "COUNT", limit)) as [string, string[]][];
    return entries.map(([id, flat]) => parseEntry(id, flat));
  }

  /** One revision's change, or undefined when the log no longer (or never) held it. */
  async get(revision: number): Promise<LoggedChange | undefined> {
    const id = `${revision}-0`;
    const entries = (await this.redis.xrange(this.keys.log, id, id)) as [string, string[]][];
    const entry = entries[0];
    return entry ? parseEntry(entry[0], entry[1]) : undefined;
  }

  /**
   * The state at revision `to`, with the current snapshot it was computed from (a write based on
   * it uses the snapshot's revision as its compare-and-set). Throws HistoryOutOfReach.
   */
  async stateAt(to: number): Promise<{ current: Snapshot; state: State }> {
    const current = await this.reader.snapshot();
    if (to > current.revision) throw new RangeError(`revision ${to} is ahead of the current revision ${current.revision}`);
    if (to === current.revision) return { current, state: current.state };
    // Entries up to the snapshot's revision never change once written; only trimming removes the
    // oldest, and contiguity below catches that. Later writes are not read.
    const entries = (await this.redis.xrange(this.keys.log, `${to + 1}-0`, `${current.revision}-0`)) as [string, string[]][];
    const changes = entries.map(([id, flat]) => parseEntry(id, flat));
    const first = changes[0]?.revision;
    if (first !== to + 1) {
      throw new HistoryOutOfReach(`revision ${to} is out of reach: the change log ${first === undefined ? "holds none of the revisions after it" : `starts at revision ${first}`}`);
    }
    changes.forEach((c, i) => {
      if (c.revision !== to + 1 + i) throw new HistoryOutOfReach(`revision ${to} is out of reach: the change log skips revision ${to + 1 + i}`);
    });
    if (changes.at(-1)?.revision !== current.revision) throw new HistoryOutOfReach(`revision ${to} is out of reach: the change log does not reach revision ${current.revision}`);
    return { current, state: validateState(undoChanges(current.state, changes)) };
  }
}
