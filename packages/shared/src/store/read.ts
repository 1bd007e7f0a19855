import type { Redis } from "ioredis";
import type { Keys } from "../keys.js";
import { dict } from "../model/dict.js";
import { State } from "../model/schema.js";
import { referenceProblems } from "../model/refs.js";
import { zodProblems } from "../model/validate.js";
import { ChangeMessage, PROTOCOL_VERSION } from "../protocol.js";
import { CorruptState } from "./errors.js";
import { redisFailure } from "./redis-errors.js";
import { cooperativeSnapshot, type CooperativeOptions } from "./scan.js";

export interface Snapshot {
  /** The store's lineage; null when the store is uninitialised (Redis restarted empty or flushed). */
  epoch: string | null;
  revision: number;
  state: State;
}

/** Where the store is: its lineage and revision, read at one instant. */
export interface Head {
  epoch: string | null;
  revision: number;
}

export type CatchUp =
  | { kind: "current"; revision: number }
  /** The store is on another lineage than the reader (or has none): load a snapshot. */
  | { kind: "other_epoch"; epoch: string | null; revision: number }
  | { kind: "changes"; revision: number; changes: ChangeMessage[] }
  /** The log no longer reaches back to `from + 1`, or Redis went backwards: load a snapshot. */
  | { kind: "snapshot_required"; revision: number; reason: string };

export interface AuditRecord {
  revision: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  /** Why the revision was written, when the writer said (a rollback: "rollback to 12"). */
  note?: string;
}

function execResults(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error("transaction aborted");
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

function parseJson(raw: string, what: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new CorruptState(`${what} is not valid JSON`);
  }
}

function fieldsOf(flat: string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

/** Parses and validates a state; throws CorruptState listing every problem. */
export function validateState(raw: unknown): State {
  const r = State.safeParse(raw);
  if (!r.success) {
    throw new CorruptState(zodProblems(r.error).map((p) => `${p.field}: ${p.message}`).join("; "));
  }
  const refs = referenceProblems(r.data);
  if (refs.length > 0) throw new CorruptState(refs.map((p) => p.message).join("; "));
  return r.data;
}

export class StoreReader {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async revision(): Promise<number> {
    return Number((await this.redis.get(this.keys.rev)) ?? 0);
  }

  /** The lineage and revision, in one MGET (an agent's watchdog reads this every second). */
  async head(): Promise<Head> {
    const [epoch, rev] = await this.redis.mget(this.keys.epoch, this.keys.rev);
    return { epoch: epoch ?? null, revision: Number(rev ?? 0) };
  }

  /**
   * One MULTI, so the state, its revision and its lineage are read at the same instant. Redis
   * refuses every MULTI while it is out of memory, reads included: then the revision-checked scan
   * (scan.ts) reads the same snapshot with plain reads, which Redis still serves.
   */
  async snapshot(): Promise<Snapshot> {
    const k = this.keys;
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await this.redis.multi().get(k.rev).get(k.default).hgetall(k.pools).hgetall(k.routes).get(k.epoch).exec();
    } catch (err) {
      if (redisFailure(err)?.kind !== "out_of_memory") throw err;
      const scanned = await cooperativeSnapshot(this.redis, this.keys);
      if (scanned === undefined) throw err;
      return scanned;
    }
    const [rev, def, pools, routes, epoch] = execResults(replies) as [string | null, string | null, Record<string, string>, Record<string, string>, string | null];
    const raw = {
      defaultUpstream: def === null ? null : parseJson(def, "default upstream"),
      // Own entries only (ioredis defines odd keys such as __proto__ as own properties); the schema
      // refuses __proto__ and builds the null-prototype objects the state is made of.
      pools: dict(Object.entries(pools).map(([n, v]) => [n, parseJson(v, `pool '${n}'`)] as const)),
      routes: dict(Object.entries(routes).map(([h, v]) => [h, parseJson(v, `route '${h}'`)] as const)),
    };
    return { epoch, revision: Number(rev ?? 0), state: validateState(raw) };
  }

  /**
   * The snapshot an agent loads while serving traffic: read and validated in slices (see scan.ts).
   * Under a write storm that keeps moving the revision it falls back to the atomic read.
   */
  async snapshotCooperative(opts?: CooperativeOptions): Promise<Snapshot> {
    return (await cooperativeSnapshot(this.redis, this.keys, opts)) ?? this.snapshot();
  }

  /**
   * Changes after (`epoch`, `from`), read atomically with the current epoch and revision.
   * Contiguity is checked here so a trimmed log can never be mistaken for "nothing happened", and
   * the lineage too: an entry of another lineage is never handed out as a change to our table.
   */
  async changesSince(from: number, epoch: string | null, limit = 10_000): Promise<CatchUp> {
    const k = this.keys;
    const [rev, entries, current] = execResults(
      await this.redis.multi().get(k.rev).xrange(k.log, `${from + 1}-0`, "+", "COUNT", limit).get(k.epoch).exec(),
    ) as [string | null, [string, string[]][], string | null];
    const revision = Number(rev ?? 0);
    if (current !== epoch || current === null) return { kind: "other_epoch", epoch: current, revision };
    if (revision === from) return { kind: "current", revision };
    if (revision < from) return { kind: "snapshot_required", revision, reason: `Redis is at revision ${revision}, behind ${from}` };
    const changes: ChangeMessage[] = [];
    let expect = from + 1;
    for (const [id, flat] of entries) {
      const entryRev = Number(id.split("-")[0]);
      if (entryRev !== expect) {
        return { kind: "snapshot_required", revision, reason: `change log starts at ${entryRev}, needed ${expect}` };
      }
      const f = fieldsOf(flat);
      if (f.epoch !== epoch) return { kind: "other_epoch", epoch: current, revision };
      const parsed = ChangeMessage.safeParse({
        v: PROTOCOL_VERSION,
        epoch: f.epoch,
        rev: entryRev,
        at: Number(f.at),
        actor: f.actor ?? "",
        ops: parseJson(f.ops ?? "", `log entry ${entryRev}`),
      });
      if (!parsed.success) throw new CorruptState(`log entry ${entryRev} fails validation`);
      changes.push(parsed.data);
      expect++;
    }
    if (expect - 1 !== revision) {
      return { kind: "snapshot_required", revision, reason: `change log reaches ${expect - 1}, revision is ${revision}` };
    }
    return { kind: "changes", revision, changes };
  }

  /** One pool, route or the default upstream, with the revision it was read at; `value` is undefined when absent. */
  async entry(kind: "pool" | "route" | "default", key = ""): Promise<{ revision: number; value: unknown }> {
    const k = this.keys;
    const m = this.redis.multi().get(k.rev);
    if (kind === "default") m.get(k.default);
    else m.hget(kind === "pool" ? k.pools : k.routes, key);
    const [rev, raw] = execResults(await m.exec()) as [string | null, string | null];
    return { revision: Number(rev ?? 0), value: raw === null ? undefined : parseJson(raw, kind === "default" ? "default upstream" : `${kind} '${key}'`) };
  }

  /** Newest first. */
  async audit(limit: number): Promise<AuditRecord[]> {
    const entries = (await this.redis.xrevrange(this.keys.audit, "+", "-", "COUNT", limit)) as [string, string[]][];
    return entries.map(([, flat]) => {
      const f = fieldsOf(flat);
      const json = (s: string | undefined) => (s ? parseJson(s, "audit value") : null);
      return {
        revision: Number(f.rev),
        at: Number(f.at),
        actor: f.actor ?? "",
        action: f.action ?? "",
        target: f.target ?? "",
        before: json(f.before),
        after: json(f.after),
        ...(f.note ? { note: f.note } : {}),
      };
    });
  }
}
