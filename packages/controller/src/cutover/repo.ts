import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { parseJsonDicts, type Keys } from "@switchyard/shared";
import { isTerminal, type CutoverRecord } from "./spec.js";

const lua = (name: string) => readFileSync(new URL(`../lua/${name}.lua`, import.meta.url), "utf8");
const CREATE = lua("cutover-create");
const RELEASE = lua("cutover-release");

// Readings and events are for people watching; caps keep a long bake from growing without bound.
const MAX_READINGS = 300;
const MAX_EVENTS = 1000;
const LIST_LIMIT = 100;

interface Commands {
  cutoverCreate(...args: (string | number)[]): Promise<[string, ...(string | number)[]]>;
  cutoverRelease(...args: (string | number)[]): Promise<number>;
}

// A record holds objects keyed by host, address and agent id: parsed without prototypes.
const parseRecord = (raw: string) => parseJsonDicts(raw) as CutoverRecord;

export class CutoverLocked extends Error {
  constructor(
    readonly host: string,
    readonly holder: string,
  ) {
    super(`host ${host} already has an active cutover (${holder})`);
  }
}

/** Cutover records, host locks, operator controls and the event stream, all under the fleet's prefix. */
export class CutoverRepo {
  private readonly redis: Redis & Commands;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
  ) {
    if (!("cutoverCreate" in redis)) {
      redis.defineCommand("cutoverCreate", { lua: CREATE });
      redis.defineCommand("cutoverRelease", { lua: RELEASE });
    }
    this.redis = redis as Redis & Commands;
  }

  async create(rec: CutoverRecord): Promise<void> {
    const locks = rec.hosts.map((h) => this.keys.cutoverLock(h));
    const reply = await this.redis.cutoverCreate(2 + locks.length, this.keys.cutovers, this.keys.cutoverIndex, ...locks, rec.id, JSON.stringify(rec), Date.parse(rec.createdAt));
    if (reply[0] !== "ok") throw new CutoverLocked(rec.hosts[Number(reply[1]) - 1] ?? "?", String(reply[2]));
    await this.redis.hset(this.keys.cutoverStates, rec.id, rec.state);
    await this.event(rec);
  }

  async get(id: string): Promise<CutoverRecord | undefined> {
    const raw = await this.redis.hget(this.keys.cutovers, id);
    return raw === null ? undefined : parseRecord(raw);
  }

  async list(limit = LIST_LIMIT): Promise<CutoverRecord[]> {
    const ids = await this.redis.zrevrange(this.keys.cutoverIndex, 0, limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.hmget(this.keys.cutovers, ...ids);
    return raws.filter((r): r is string => r !== null).map(parseRecord);
  }

  /** Persists the record and appends it to the event stream; terminal records release their locks. */
  async save(rec: CutoverRecord): Promise<void> {
    rec.updatedAt = new Date().toISOString();
    if (rec.readings.length > MAX_READINGS) rec.readings = rec.readings.slice(-MAX_READINGS);
    // The record and its state index together: the metrics count what the records say.
    const results = await this.redis.multi().hset(this.keys.cutovers, rec.id, JSON.stringify(rec)).hset(this.keys.cutoverStates, rec.id, rec.state).exec();
    for (const [err] of results ?? []) if (err) throw err;
    await this.event(rec);
    if (isTerminal(rec.state)) await this.release(rec);
  }

  async release(rec: CutoverRecord): Promise<void> {
    const locks = rec.hosts.map((h) => this.keys.cutoverLock(h));
    await this.redis.cutoverRelease(locks.length, ...locks, rec.id);
  }

  private async event(rec: CutoverRecord): Promise<void> {
    await this.redis.xadd(this.keys.cutoverEvents(rec.id), "MAXLEN", "~", MAX_EVENTS, "*", "state", rec.state, "updatedAt", rec.updatedAt);
    // A hint for every controller's event hub (GET /v1/events); the record above is the truth.
    await this.redis.publish(this.keys.cutoverProgress, rec.id);
  }

  /** Newest event id, for SSE clients that poll for change. */
  async lastEventId(id: string): Promise<string | null> {
    const last = (await this.redis.xrevrange(this.keys.cutoverEvents(id), "+", "-", "COUNT", 1)) as [string, string[]][];
    return last[0]?.[0] ?? null;
  }

  /** How many cutovers are in each state (records created before the state index existed are not counted). */
  async stateCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const state of await this.redis.hvals(this.keys.cutoverStates)) counts.set(state, (counts.get(state) ?? 0) + 1);
    return counts;
  }

  /** The active cutover holding each host's lock, or null: what create would refuse, read without taking anything. */
  async lockHolders(hosts: readonly string[]): Promise<(string | null)[]> {
    if (hosts.length === 0) return [];
    const holders = await this.redis.mget(...hosts.map((h) => this.keys.cutoverLock(h)));
    const active = await Promise.all(holders.map(async (id) => (id === null ? null : (await this.get(id)) ?? null)));
    return active.map((rec) => (rec && !isTerminal(rec.state) ? rec.id : null));
  }

  async control(id: string, what: "abort" | "promote"): Promise<void> {
    await this.redis.hset(this.keys.cutoverControl(id), what, Date.now());
  }

  async controls(id: string): Promise<{ abort: boolean; promote: boolean }> {
    const c = await this.redis.hgetall(this.keys.cutoverControl(id));
    return { abort: c.abort !== undefined, promote: c.promote !== undefined };
  }
}
