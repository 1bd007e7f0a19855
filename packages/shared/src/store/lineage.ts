import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import type { Keys } from "../keys.js";
import { routePools, upstreamPools } from "../model/refs.js";
import { StoreOffer, newEpoch } from "../protocol.js";
import { validateState } from "./read.js";

const lua = (name: string) => readFileSync(new URL(`../lua/${name}`, import.meta.url), "utf8");
const INIT_LUA = lua("store-init.lua");
const OFFER_LUA = lua("store-offer.lua");
const RESTORE_LUA = lua("store-restore.lua");

/** Offers live this long unless renewed (agents renew theirs every watchdog check). */
export const OFFER_TTL_MS = 30_000;

interface LineageCommands {
  switchyardInit(...args: (string | number)[]): Promise<[string, string]>;
  switchyardOffer(...args: (string | number)[]): Promise<number>;
  switchyardRestore(...args: (string | number)[]): Promise<[string, string?, number?]>;
}

/** The best copy first: the newest lineage (epoch ids sort by creation time), then the highest revision. */
export function bestOffer(offers: StoreOffer[]): StoreOffer | undefined {
  return [...offers].sort((a, b) => (a.epoch === b.epoch ? b.revision - a.revision : a.epoch < b.epoch ? 1 : -1))[0];
}

export type InitResult = { ok: true; epoch: string } | { ok: false; epoch: string };
export type RestoreResult = { ok: true; epoch: string; revision: number } | { ok: false };

/**
 * The store's lineage: initialising it explicitly, agents' offers while it is uninitialised, and
 * the restore of the best offer. Each is one Lua script (store-init.lua, store-offer.lua,
 * store-restore.lua); the restore succeeds only on an empty store, so exactly one restore wins.
 */
export class StoreLineage {
  private readonly redis: Redis & LineageCommands;

  constructor(redis: Redis, private readonly keys: Keys, private readonly auditCap = 10_000) {
    if (!("switchyardInit" in redis)) {
      redis.defineCommand("switchyardInit", { numberOfKeys: 10, lua: INIT_LUA });
      redis.defineCommand("switchyardOffer", { numberOfKeys: 2, lua: OFFER_LUA });
      redis.defineCommand("switchyardRestore", { numberOfKeys: 9, lua: RESTORE_LUA });
    }
    this.redis = redis as Redis & LineageCommands;
  }

  /** Starts a fresh lineage, only on an uninitialised store (offers and lineage-less state are dropped). */
  async init(actor: string): Promise<InitResult> {
    const k = this.keys;
    const [code, epoch] = await this.redis.switchyardInit(
      k.epoch, k.rev, k.default, k.pools, k.routes, k.refcount, k.routeRefs, k.log, k.audit, k.offers,
      newEpoch(), actor, this.auditCap,
    );
    return { ok: code === "ok", epoch };
  }

  /** An agent's offer; recorded only while the store is uninitialised (false otherwise). */
  async offer(offer: StoreOffer): Promise<boolean> {
    const k = this.keys;
    return (await this.redis.switchyardOffer(k.epoch, k.offers, offer.agent, JSON.stringify(offer), OFFER_TTL_MS)) === 1;
  }

  /** The valid offers on record (an offer that does not parse is skipped, never restored). */
  async offers(): Promise<StoreOffer[]> {
    const raw = await this.redis.hgetall(this.keys.offers);
    const out: StoreOffer[] = [];
    for (const v of Object.values(raw)) {
      try {
        const r = StoreOffer.safeParse(JSON.parse(v));
        if (r.success) out.push(r.data);
      } catch {
        // Not JSON: not an offer.
      }
    }
    return out;
  }

  /** Writes the offer's table back, keeping its epoch and revision; refused unless the store is empty. */
  async restore(offer: StoreOffer): Promise<RestoreResult> {
    const state = validateState(offer.state); // an offer is input like any other: validated whole first
    const k = this.keys;
    const def = state.defaultUpstream;
    const pools = Object.entries(state.pools).flatMap(([name, pool]) => [name, JSON.stringify(pool)]);
    const routes = Object.entries(state.routes).flatMap(([host, route]) => [host, JSON.stringify(route), routePools(route).join(" ")]);
    const [code, epoch, revision] = await this.redis.switchyardRestore(
      k.epoch, k.rev, k.default, k.pools, k.routes, k.refcount, k.routeRefs, k.audit, k.offers,
      offer.epoch, offer.revision, offer.agent, this.auditCap,
      def === null ? "" : JSON.stringify(def), def === null ? "" : upstreamPools(def).join(" "),
      pools.length / 2, ...pools, routes.length / 3, ...routes,
    );
    return code === "ok" ? { ok: true, epoch: String(epoch), revision: Number(revision) } : { ok: false };
  }
}
