import { NEVER_NAMED_AWAY } from "./headers.js";

/**
 * The request field names and Connection values the passes (passes.ts) act on, classified once per
 * spelling: the kind table, its lookups and their bounded caches. Pure: no per-request state here.
 */
// Field kinds. The 9 singletons are the request fields Node's own parser keeps one copy of (it
// drops the repeats, where others keep the last or pass both): a repeat is refused rather than
// resolved differently by each door or upstream.
export const enum K { Other, Host, ContentLength, TransferEncoding, Connection, ProxyConnection, HopByHop, Expect, Xff, Xfp, Xfh, XRealIp, RequestId, Singleton }
export const SINGLETONS = ["authorization", "proxy-authorization", "content-type", "user-agent", "referer", "from", "if-modified-since", "if-unmodified-since", "max-forwards"] as const;
const KINDS = new Map<string, number>([
  ["host", K.Host], ["content-length", K.ContentLength], ["transfer-encoding", K.TransferEncoding], ["connection", K.Connection],
  ["proxy-connection", K.ProxyConnection], ["keep-alive", K.HopByHop], ["te", K.HopByHop], ["trailer", K.HopByHop], ["upgrade", K.HopByHop],
  ["expect", K.Expect], ["x-forwarded-for", K.Xff], ["x-forwarded-proto", K.Xfp], ["x-forwarded-host", K.Xfh], ["x-real-ip", K.XRealIp], ["x-request-id", K.RequestId],
  ...SINGLETONS.map((n, i) => [n, K.Singleton + i] as [string, number]),
]);
// Only names of these lengths can name a kind: others are never lowercased.
const WATCHED = new Uint8Array(32);
for (const name of KINDS.keys()) WATCHED[name.length] = 1;
export const UNDERSCORE = 0x80;
export const SINGLETON_BITS = ((1 << SINGLETONS.length) - 1) << K.Singleton;
export const bit = (k: number) => 1 << k;

// Names as spelled, with their kind (UNDERSCORE included): a server's requests use a small set of
// spellings, so most fields cost one lookup and no lowercasing. Bounded in count and name length.
const NAME_CACHE_MAX = 2048;
const spellings = new Map<string, number>();

export function kindOf(name: string): number {
  const known = spellings.get(name);
  if (known !== undefined) return known;
  const len = name.length;
  let kind = len < 32 && WATCHED[len] === 1 ? (KINDS.get(name.toLowerCase()) ?? K.Other) : K.Other;
  if (name.indexOf("_") >= 0) kind |= UNDERSCORE;
  if (len <= 64) {
    if (spellings.size >= NAME_CACHE_MAX) spellings.clear();
    spellings.set(name, kind);
  }
  return kind;
}

/** A Connection (or Proxy-Connection) value's tokens as the passes read them. */
export interface ConnectionValue {
  readonly close: boolean;
  readonly keepAlive: boolean;
  /** The field names it lists (lowercased), minus those never named away. */
  readonly named: readonly string[];
}
// Connection values repeat even more than names ("keep-alive", "close"): parsed once each. Bounded.
const connectionValues = new Map<string, ConnectionValue>();

export function connectionValue(value: string): ConnectionValue {
  const known = connectionValues.get(value);
  if (known !== undefined) return known;
  let close = false;
  let keepAlive = false;
  const named: string[] = [];
  for (const token of value.split(",")) {
    const t = token.trim().toLowerCase();
    if (t === "close") close = true;
    else if (t === "keep-alive") keepAlive = true;
    if (t !== "" && !NEVER_NAMED_AWAY.has(t)) named.push(t);
  }
  const parsed: ConnectionValue = { close, keepAlive, named };
  if (value.length <= 256) {
    if (connectionValues.size >= NAME_CACHE_MAX) connectionValues.clear();
    connectionValues.set(value, parsed);
  }
  return parsed;
}
