import type { Dict } from "./dict.js";

/**
 * A persistent string-keyed map with structural sharing: the keys are spread over 2^k shards (a
 * Map each) by a string hash, and a change copies only the shards it touches plus the shard array.
 * With about sqrt(n) shards, one change to a 10k-entry map copies ~100 entries and ~128 pointers
 * instead of 10k entries. A map is never changed once built: `edit()` makes a new one, the old one
 * stays valid for whoever holds it (validate, then swap).
 *
 * The shard count is fixed when a map is built from scratch (`from`) and kept by its edits; a map
 * that grows far past it is rebuilt on the next full build (a snapshot), never lost.
 */

/** FNV-1a over UTF-16 code units (a caller filling two maps by one key may pass it to `set` once computed): cheap and spreads hostnames that differ in any character. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function shardBits(n: number): number {
  let bits = 0;
  while (bits < 10 && 1 << (2 * bits) < n) bits++; // 2^bits >= sqrt(n), at most 1024 shards
  return bits;
}

export class ShardedMap<V> {
  private constructor(
    private readonly shards: readonly (ReadonlyMap<string, V> | undefined)[],
    private readonly mask: number,
    readonly size: number,
  ) {}

  static empty<V>(expected = 0): ShardedMap<V> {
    const bits = shardBits(expected);
    return new ShardedMap<V>(new Array<undefined>(1 << bits).fill(undefined), (1 << bits) - 1, 0);
  }

  /** A new map of `entries` (later keys win), sharded for their count. */
  static from<V>(entries: Iterable<readonly [string, V]>, expected: number): ShardedMap<V> {
    const e = ShardedMap.empty<V>(expected).edit();
    for (const [k, v] of entries) e.set(k, v);
    return e.done();
  }

  get(key: string): V | undefined {
    return this.shards[hashKey(key) & this.mask]?.get(key);
  }

  has(key: string): boolean {
    return this.shards[hashKey(key) & this.mask]?.has(key) === true;
  }

  *keys(): IterableIterator<string> {
    for (const s of this.shards) if (s !== undefined) yield* s.keys();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const s of this.shards) if (s !== undefined) yield* s.entries();
  }

  /** A batch of changes on a copy: each touched shard is copied once, the rest are shared. */
  edit(): ShardedEdit<V> {
    return new ShardedEdit<V>(this.shards, this.mask, this.size, (shards, size) => new ShardedMap<V>(shards, this.mask, size));
  }
}

export class ShardedEdit<V> {
  private readonly shards: (ReadonlyMap<string, V> | undefined)[];
  /** 1 for a shard this edit already copied (its own to change). */
  private readonly owned: Uint8Array;
  private closed = false;

  constructor(
    shards: readonly (ReadonlyMap<string, V> | undefined)[],
    private readonly mask: number,
    private size: number,
    private readonly make: (shards: readonly (ReadonlyMap<string, V> | undefined)[], size: number) => ShardedMap<V>,
  ) {
    this.shards = shards.slice();
    this.owned = new Uint8Array(shards.length);
  }

  private shard(i: number): Map<string, V> {
    if (this.closed) throw new Error("a finished edit cannot change");
    if (this.owned[i] === 0) {
      this.owned[i] = 1;
      const from = this.shards[i];
      this.shards[i] = from === undefined ? new Map() : new Map(from);
    }
    return this.shards[i] as Map<string, V>;
  }

  get(key: string): V | undefined {
    return this.shards[hashKey(key) & this.mask]?.get(key);
  }

  set(key: string, value: V, hash = hashKey(key)): void {
    const s = this.shard(hash & this.mask);
    const before = s.size;
    s.set(key, value);
    this.size += s.size - before;
  }

  delete(key: string): void {
    const i = hashKey(key) & this.mask;
    if (this.shards[i]?.has(key) !== true) return;
    this.shard(i).delete(key);
    this.size--;
  }

  done(): ShardedMap<V> {
    this.closed = true;
    return this.make(this.shards, this.size);
  }
}

// The Dict view of each map: State keeps its Dict type for every reader, while the agent's apply
// path edits the map behind it (apply.ts).
const views = new WeakMap<object, ShardedMap<unknown>>();
const readOnly = () => false;

/**
 * A read-only null-prototype Dict over `map` (a Proxy): property reads, `in`, Object.hasOwn,
 * Object.keys/entries, for-in and JSON.stringify all see the map's entries; writes throw in strict
 * code. Reads cost a hash and a Map lookup; listing every key is O(n) as for a plain object.
 */
export function dictView<V>(map: ShardedMap<V>): Dict<V> {
  const view = new Proxy(Object.create(null) as Dict<V>, {
    get: (_t, k) => (typeof k === "string" ? map.get(k) : undefined),
    has: (_t, k) => typeof k === "string" && map.has(k),
    ownKeys: () => [...map.keys()],
    getOwnPropertyDescriptor: (_t, k) => (typeof k === "string" && map.has(k) ? { value: map.get(k), writable: false, enumerable: true, configurable: true } : undefined),
    set: readOnly,
    deleteProperty: readOnly,
    defineProperty: readOnly,
    setPrototypeOf: readOnly,
  });
  views.set(view, map as ShardedMap<unknown>);
  return view;
}

/** The map behind a dictView, or undefined for a plain Dict. */
export function shardedOf<V>(d: Readonly<Dict<V>>): ShardedMap<V> | undefined {
  return views.get(d) as ShardedMap<V> | undefined;
}
