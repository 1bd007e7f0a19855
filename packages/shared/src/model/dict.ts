import { z } from "zod";

/**
 * Objects keyed by user data (hosts, pool names, target addresses, agent ids) have no prototype.
 *
 * On a plain object, `o["__proto__"] = v` replaces the object's prototype instead of adding a key
 * (one accepted `PUT /v1/routes/__proto__` once made every agent reject every snapshot), and
 * `o["constructor"]` answers although nobody set it. A null-prototype object has neither trap:
 * every key is its own, `for...in` sees only own keys, and JSON.stringify writes it as usual.
 * `__proto__` is still refused as a host (host.ts) and can never be a pool name (schema.ts), so
 * it never reaches Redis; these objects are the second wall.
 *
 * Invariant: every State, split and report object Switchyard builds from user data is made by
 * dict(), copyDict() or a dictOf() schema. Spreading one (`{ ...d }`) makes a plain object again:
 * use copyDict().
 */
export type Dict<T> = Record<string, T>;

/** A new null-prototype object, filled from `entries` in order. */
export function dict<T>(entries?: Iterable<readonly [string, T]>): Dict<T> {
  const out = Object.create(null) as Dict<T>;
  if (entries) for (const [k, v] of entries) out[k] = v;
  return out;
}

/** A null-prototype copy of `from`'s own enumerable keys (never inherited ones). */
export function copyDict<T>(from: Readonly<Dict<T>>): Dict<T> {
  const out = Object.create(null) as Dict<T>;
  for (const k of Object.keys(from)) out[k] = from[k] as T;
  return out;
}

/** True when `input` has an own `__proto__` key, as `JSON.parse('{"__proto__": 1}')` makes. */
const hasProtoKey = (input: unknown): boolean =>
  typeof input === "object" && input !== null && !Array.isArray(input) && Object.hasOwn(input, "__proto__");

/**
 * `z.record(key, value)` for records keyed by user data. zod 4 (4.6) silently drops a `__proto__`
 * key (it never reaches the key schema) and builds its output on a plain `{}`: a `constructor`
 * key becomes an own property there, but a lookup of any name nobody set (`toString`,
 * `constructor` in a record without it) finds Object.prototype's member. This refuses the key
 * with an issue at `<path>.__proto__` and outputs a null-prototype object.
 */
export function dictOf<K extends z.ZodType<string, string>, V extends z.ZodType>(key: K, value: V) {
  return z
    .preprocess((input, ctx) => {
      if (hasProtoKey(input)) ctx.addIssue({ code: "custom", path: ["__proto__"], message: "'__proto__' is reserved and cannot be a key", input });
      return input;
    }, z.record(key, value))
    .transform((r) => copyDict(r as Dict<z.output<V>>));
}

/**
 * JSON.parse whose every object has no prototype: for stored documents keyed by user data deep
 * inside (a cutover record's routes by host, its preflight report by address and agent id).
 */
export function parseJsonDicts(raw: string): unknown {
  return JSON.parse(raw, (_key, value: unknown) =>
    typeof value === "object" && value !== null && !Array.isArray(value) ? copyDict(value as Dict<unknown>) : value,
  );
}
