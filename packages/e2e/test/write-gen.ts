import { normalizeHost } from "@switchyard/shared";
import type { Rng } from "@switchyard/testkit";

/**
 * Random API writes for the accepted-writes property test, and the model they imply. The names
 * lean on the dangerous ones: Object.prototype members as hosts and pool names, `__proto__` in
 * every position, wildcards, splits and rules, plus plain invalid input. The generator does not
 * predict which writes the API accepts: the API's answer decides, and only accepted writes
 * change the model.
 */

export const POOLS = ["blue", "green", "constructor", "prototype", "tostring", "valueof", "hasownproperty", "p.1", "__proto__", "Bad"];
export const HOSTS = [
  "a.com", "Demo.Local:8080", "constructor", "toString", "hasOwnProperty", "valueOf", "prototype", "isPrototypeOf",
  "__defineGetter__", "__proto__", "__PROTO__", "*.example.com", "*.constructor", "*.__proto__", "x.__proto__.y", "127.0.0.2", "a.com.",
];
const ADDRESSES = ["127.0.0.1:9001", "127.0.0.1:9002", "unix:/run/sy-a.sock", "[::1]:9003", "constructor:8080", "__proto__:80", "127.0.0.0.:1"];
const PATHS = ["/", "/api/", "/constructor", "/__proto__/", "/a"];

export type Upstream = string | { split: Record<string, number> };
export type Route = { upstream: Upstream } | { rules: { path: string; upstream: Upstream }[] };
export interface Pool {
  targets: { address: string; weight: number }[];
  keepalive?: number;
}

/** One HTTP write as the API takes it, and what it does to the model if it is accepted. */
export interface Write {
  method: "PUT" | "DELETE" | "POST";
  path: string;
  body?: unknown;
  apply(m: Model): void;
}

export interface Model {
  defaultUpstream: Upstream | null;
  pools: Map<string, Pool>;
  routes: Map<string, Route>;
}

export const emptyModel = (): Model => ({ defaultUpstream: null, pools: new Map(), routes: new Map() });

function upstream(r: Rng): Upstream {
  const kind = r.int(0, 9);
  if (kind < 4) return r.pick(POOLS);
  if (kind < 6) return r.pick(ADDRESSES);
  const names = [...new Set(Array.from({ length: r.int(1, 3) }, () => r.pick(POOLS)))];
  // Null prototype, so a pool named "__proto__" becomes an own key and JSON sends it.
  const split: Record<string, number> = Object.create(null);
  let left = 100;
  names.forEach((n, i) => {
    const w = i === names.length - 1 ? left : r.int(0, left);
    // Mostly summing to 100; now and then not, which the API must refuse.
    split[n] = r.chance(0.1) ? w + 1 : w;
    left -= w;
  });
  return { split };
}

function route(r: Rng): Route {
  if (r.chance(0.6)) return { upstream: upstream(r) };
  const paths = [...new Set(Array.from({ length: r.int(1, 3) }, () => r.pick(PATHS)))];
  return { rules: paths.map((path) => ({ path, upstream: upstream(r) })) };
}

function pool(r: Rng): Pool {
  const targets = Array.from({ length: r.int(1, 3) }, () => ({ address: r.pick(ADDRESSES), weight: r.int(1, 5) }));
  return r.chance(0.3) ? { targets, keepalive: r.int(0, 64) } : { targets };
}

const enc = encodeURIComponent;

/** One random write. */
export function randomWrite(r: Rng): Write {
  const kind = r.int(0, 19);
  if (kind < 5) {
    const name = r.pick(POOLS);
    const body = pool(r);
    return { method: "PUT", path: `/v1/pools/${enc(name)}`, body, apply: (m) => void m.pools.set(name, body) };
  }
  if (kind < 7) {
    const name = r.pick(POOLS);
    return { method: "DELETE", path: `/v1/pools/${enc(name)}`, apply: (m) => void m.pools.delete(name) };
  }
  if (kind < 13) {
    const host = r.pick(HOSTS);
    const body = route(r);
    return { method: "PUT", path: `/v1/routes/${enc(host)}`, body, apply: (m) => void m.routes.set(normalizeHost(host), body) };
  }
  if (kind < 15) {
    const host = r.pick(HOSTS);
    return { method: "DELETE", path: `/v1/routes/${enc(host)}`, apply: (m) => void m.routes.delete(normalizeHost(host)) };
  }
  if (kind < 17) {
    const u = r.chance(0.2) ? null : upstream(r);
    return { method: "PUT", path: "/v1/default", body: { upstream: u }, apply: (m) => void (m.defaultUpstream = u) };
  }
  // The OpenResty seed's switch: a host's whole route becomes { upstream }, or the default without a
  // host. Without create=true an unknown host is refused (404 unknown_host), leaving the model as it is.
  const u = r.chance(0.5) ? r.pick(POOLS) : r.pick(ADDRESSES);
  if (r.chance(0.3)) return { method: "POST", path: `/_switch_upstream?upstream=${enc(u)}`, apply: (m) => void (m.defaultUpstream = u) };
  const host = r.pick(HOSTS);
  const create = r.chance(0.5) ? "&create=true" : "";
  return { method: "POST", path: `/_switch_upstream?host=${enc(host)}&upstream=${enc(u)}${create}`, apply: (m) => void m.routes.set(normalizeHost(host), { upstream: u }) };
}

/** Own entries sorted by key: compares a model Map, an API body and an agent's state alike, whatever their prototypes. */
export function entries(o: Map<string, unknown> | Record<string, unknown>): [string, unknown][] {
  const list = o instanceof Map ? [...o] : Object.entries(o);
  return list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A state in one comparable shape: plain JSON values, entries sorted by key. */
export function comparable(s: { defaultUpstream: unknown; pools: Map<string, unknown> | Record<string, unknown>; routes: Map<string, unknown> | Record<string, unknown> }) {
  const plain = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;
  return { defaultUpstream: plain(s.defaultUpstream ?? null), pools: plain(entries(s.pools)), routes: plain(entries(s.routes)) };
}
