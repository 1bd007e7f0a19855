import type { BlockList } from "node:net";
import { normalizeHost } from "@switchyard/shared";
import { NEVER_NAMED_AWAY, forwardedFields, type ForwardedFields, type PeerInfo } from "./headers.js";
import type { Refusal } from "./replies.js";
import { newRequestId, wellFormedRequestId } from "./request-id.js";
import type { ForwardTarget, TableSource } from "./table.js";

/**
 * The request rules, declared once as an ordered list of named passes (as httpxy's
 * webIncomingMiddleware) and run by both front doors: the fast path (front/fast-conn.ts) and
 * Node's HTTP server (node-door.ts). Whichever door a request takes, the same rules decide its
 * answer and the same head goes upstream, so a client cannot pick the more lenient door.
 *
 * A pass reads and rewrites one PassRequest; a pass that returns a Refusal ends the request with
 * that answer. runPasses, at the end, is the ordered list. Passes run synchronously, start to
 * finish, for one request at a time: the field kinds below live in one shared scratch array.
 */

export interface PassRequest {
  method: string;
  /** The request target as sent (origin-form, query included). */
  url: string;
  /** HTTP/1.0 (Node's door only): Host is optional and keep-alive must be asked for. */
  http10: boolean;
  /**
   * [name, value, ...] as received, values without surrounding whitespace. A pass drops a field by
   * setting its name to "", and rewrites a value in place.
   */
  fields: string[];
  peer: PeerInfo;
  // What the passes found out:
  /** The target's path (no query): what routes. */
  path: string;
  /** The Host value, or undefined when the request has none. */
  host: string | undefined;
  /** The connection closes after this request's response. */
  close: boolean;
  /** The body comes chunked (Node's door; Transfer-Encoding is kept for it). */
  chunked: boolean;
  /** The Content-Length, or -1 without one. */
  length: number;
  target: ForwardTarget | undefined;
  /** The key of the route that decided ("" for the default upstream, or no route). */
  route: string;
  /** The revision of the table that routed (or refused) it; -1 when no table decided. */
  revision: number;
  forwarded: ForwardedFields | undefined;
  /** The X-Request-Id that goes upstream: the client's when well formed, else one made here. */
  requestId: string;
  /** performance.now() when the passes started: the request's start for its duration. */
  start: number;
}

/**
 * Told once per HTTP request when its response is over (front/listener.ts ProxyServerDeps.onResult),
 * with the request as the passes left it. On the fast path `r` is reused by the connection's next
 * request: read it during the call, never keep it.
 */
export type ResultReporter = (upstream: string, status: number, r: PassRequest) => void;

export interface PassEnv {
  readonly table: TableSource;
  readonly trusted: BlockList;
  /** AGENT_UNDERSCORE_HEADERS. */
  readonly underscores: "drop" | "pass";
  /** Stamp each request's start (PassRequest.start) for metrics or the access log; a clock read is not free. */
  readonly timed?: boolean;
}

export function newPassRequest(peer: PeerInfo): PassRequest {
  return { method: "", url: "", http10: false, fields: [], peer, path: "", host: undefined, close: false, chunked: false, length: -1, target: undefined, route: "", revision: -1, forwarded: undefined, requestId: "", start: 0 };
}

// Field kinds. The 9 singletons are the request fields Node's own parser keeps one copy of (it
// drops the repeats, where others keep the last or pass both): a repeat is refused rather than
// resolved differently by each door or upstream.
const enum K { Other, Host, ContentLength, TransferEncoding, Connection, ProxyConnection, HopByHop, Expect, Xff, Xfp, Xfh, XRealIp, RequestId, Singleton }
const SINGLETONS = ["authorization", "proxy-authorization", "content-type", "user-agent", "referer", "from", "if-modified-since", "if-unmodified-since", "max-forwards"] as const;
const KINDS = new Map<string, number>([
  ["host", K.Host], ["content-length", K.ContentLength], ["transfer-encoding", K.TransferEncoding], ["connection", K.Connection],
  ["proxy-connection", K.ProxyConnection], ["keep-alive", K.HopByHop], ["te", K.HopByHop], ["trailer", K.HopByHop], ["upgrade", K.HopByHop],
  ["expect", K.Expect], ["x-forwarded-for", K.Xff], ["x-forwarded-proto", K.Xfp], ["x-forwarded-host", K.Xfh], ["x-real-ip", K.XRealIp], ["x-request-id", K.RequestId],
  ...SINGLETONS.map((n, i) => [n, K.Singleton + i] as [string, number]),
]);
// Only names of these lengths can name a kind: others are never lowercased.
const WATCHED = new Uint8Array(32);
for (const name of KINDS.keys()) WATCHED[name.length] = 1;
const UNDERSCORE = 0x80;
const SINGLETON_BITS = ((1 << SINGLETONS.length) - 1) << K.Singleton;
const bit = (k: number) => 1 << k;

let kinds = new Uint8Array(256);
/** The kind of the k-th field of the current request. */
const kindAt = (k: number): number => (kinds[k] as number) & 0x7f;
/** Which kinds the current request has (bit per kind; UNDERSCORE_BIT for a name with '_'). */
let present = 0;
const UNDERSCORE_BIT = 1 << 30;

const bad = (message: string): Refusal => ({ status: 400, error: "bad_request", message });
const NOT_READY: Refusal = Object.freeze({ status: 503, error: "not_ready", message: "no route table applied yet" });

// Names as spelled, with their kind (UNDERSCORE included): a server's requests use a small set of
// spellings, so most fields cost one lookup and no lowercasing. Bounded in count and name length.
const NAME_CACHE_MAX = 2048;
const spellings = new Map<string, number>();

function kindOf(name: string): number {
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
interface ConnectionValue {
  readonly close: boolean;
  readonly keepAlive: boolean;
  /** The field names it lists (lowercased), minus those never named away. */
  readonly named: readonly string[];
}
// Connection values repeat even more than names ("keep-alive", "close"): parsed once each. Bounded.
const connectionValues = new Map<string, ConnectionValue>();

function connectionValue(value: string): ConnectionValue {
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

/** Names the kind of every field the later passes act on. Never refuses. */
function classify(r: PassRequest): Refusal | undefined {
  const f = r.fields;
  if (f.length / 2 > kinds.length) kinds = new Uint8Array(f.length);
  present = 0;
  for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) {
    const kind = kindOf(f[i] as string);
    present |= bit(kind & 0x7f) | (kind & UNDERSCORE ? UNDERSCORE_BIT : 0);
    kinds[k] = kind;
  }
  return undefined;
}

/**
 * X-Request-Id: one well-formed id from the client is kept; none, a malformed one (length,
 * characters) or several are replaced by a new id. The client's fields are dropped either way and
 * the id goes upstream as the edge's own field (upstreamHead, handshakeHeaders). Never refuses.
 */
function requestId(r: PassRequest): Refusal | undefined {
  let kept: string | undefined;
  if ((present & bit(K.RequestId)) !== 0) {
    const f = r.fields;
    let n = 0;
    for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) {
      if (kindAt(k) !== K.RequestId) continue;
      if (n++ === 0) kept = f[i + 1] as string;
      f[i] = "";
    }
    if (n > 1 || (kept !== undefined && !wellFormedRequestId(kept))) kept = undefined;
  }
  r.requestId = kept ?? newRequestId();
  return undefined;
}

/** 400 unless the target is a path: `GET http://other/` would route by Host but claim another authority. */
function originForm(r: PassRequest): Refusal | undefined {
  const url = r.url;
  if (url.charCodeAt(0) !== 47 /* / */) return bad("request target must be a path starting with '/'");
  const q = url.indexOf("?");
  r.path = q < 0 ? url : url.slice(0, q);
  return undefined;
}

/** 400 unless there is exactly one Host (RFC 9112 §3.2; an HTTP/1.0 request may have none). */
function oneHost(r: PassRequest): Refusal | undefined {
  r.host = undefined;
  if ((present & bit(K.Host)) !== 0) {
    const f = r.fields;
    for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) {
      if (kindAt(k) !== K.Host) continue;
      if (r.host !== undefined) return bad("more than one Host header");
      r.host = f[i + 1] as string;
    }
  }
  if (r.host === undefined && !r.http10) return bad("an HTTP/1.1 request needs a Host header");
  return undefined;
}

/** 400 for a repeated field that carries one value (Authorization, Content-Type, ...). */
function singletons(r: PassRequest): Refusal | undefined {
  if ((present & SINGLETON_BITS) === 0) return undefined;
  let seen = 0;
  for (let k = 0; k < r.fields.length / 2; k++) {
    const kind = kindAt(k);
    if (kind < K.Singleton) continue;
    if ((seen & bit(kind)) !== 0) return bad(`more than one ${SINGLETONS[kind - K.Singleton]} header`);
    seen |= bit(kind);
  }
  return undefined;
}

/** Content-Length in its canonical form: `010` goes upstream as `10` (Node's parser accepts it as sent); 400 for anything but digits. */
function contentLength(r: PassRequest): Refusal | undefined {
  r.length = -1;
  r.chunked = (present & bit(K.TransferEncoding)) !== 0;
  if ((present & bit(K.ContentLength)) === 0) return undefined;
  const f = r.fields;
  for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) {
    if (kindAt(k) !== K.ContentLength) continue;
    const v = f[i + 1] as string;
    if (!/^[0-9]{1,15}$/.test(v)) return bad("invalid Content-Length");
    const n = Number(v);
    if (r.length >= 0 && r.length !== n) return bad("conflicting Content-Length values");
    r.length = n;
    if (v.length > 1 && v.charCodeAt(0) === 48) f[i + 1] = String(n);
  }
  return undefined;
}

/** Whether the connection closes after the response: a `close` token in Connection or Proxy-Connection (as llhttp reads it), or HTTP/1.0 without keep-alive. */
function connectionClose(r: PassRequest): Refusal | undefined {
  let close = false;
  let keepAlive = false;
  if ((present & (bit(K.Connection) | bit(K.ProxyConnection))) !== 0) {
    const f = r.fields;
    for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) {
      const kind = kindAt(k);
      if (kind !== K.Connection && kind !== K.ProxyConnection) continue;
      const v = connectionValue(f[i + 1] as string);
      close ||= v.close;
      keepAlive ||= v.keepAlive;
    }
  }
  r.close = close || (r.http10 && !keepAlive);
  return undefined;
}

/** 503 before the first table, 404 when nothing routes the host; one read of the current table. */
function resolve(r: PassRequest, env: PassEnv): Refusal | undefined {
  const table = env.table.current;
  r.target = undefined;
  r.route = "";
  r.revision = -1;
  if (table === undefined) return NOT_READY;
  r.revision = table.revision;
  const host = normalizeHost(r.host ?? "");
  const resolution = table.resolve(host, r.path, r);
  if (resolution.kind !== "target") return { status: 404, error: "no_route", message: `no route for host '${host}'` };
  r.target = resolution.forward;
  return undefined;
}

/**
 * Drops hop-by-hop fields (RFC 9110 §7.6.1, plus Proxy-Connection and Keep-Alive), Expect (the
 * edge has answered any 100-continue itself) and the fields Connection names, except those in
 * NEVER_NAMED_AWAY. Transfer-Encoding stays: it frames a body that leaves re-chunked, and a coding
 * before chunked (gzip, chunked) still applies to the bytes passed on.
 */
function hopByHop(r: PassRequest): Refusal | undefined {
  const drop = bit(K.Connection) | bit(K.ProxyConnection) | bit(K.HopByHop) | bit(K.Expect);
  if ((present & drop) === 0) return undefined;
  const f = r.fields;
  let named: string[] | undefined;
  for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) {
    if (kindAt(k) !== K.Connection) continue;
    for (const t of connectionValue(f[i + 1] as string).named) if (t !== "close" && t !== "keep-alive") (named ??= []).push(t);
  }
  for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) {
    const kind = kindAt(k);
    if (kind === K.TransferEncoding) continue;
    if ((drop & bit(kind)) !== 0 || (named !== undefined && named.includes((f[i] as string).toLowerCase()))) f[i] = "";
  }
  return undefined;
}

/**
 * Drops fields whose names carry an underscore, as nginx does by default (underscores_in_headers
 * off): CGI, WSGI and PHP upstreams read X_Real_IP as X-Real-IP, next to the edge's own.
 * AGENT_UNDERSCORE_HEADERS=pass keeps them.
 */
function underscores(r: PassRequest, env: PassEnv): Refusal | undefined {
  if ((present & UNDERSCORE_BIT) === 0 || env.underscores === "pass") return undefined;
  const f = r.fields;
  for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) if (((kinds[k] as number) & UNDERSCORE) !== 0) f[i] = "";
  return undefined;
}

/** X-Forwarded-For/-Proto/-Host and X-Real-IP: the client's own are taken out, the edge's put in (headers.ts forwardedFields). */
function forwarded(r: PassRequest): Refusal | undefined {
  let xff: string | undefined;
  let xfp: string | undefined;
  let xfh: string | undefined;
  if ((present & (bit(K.Xff) | bit(K.Xfp) | bit(K.Xfh) | bit(K.XRealIp))) !== 0) {
    const f = r.fields;
    for (let i = 0, k = 0; i + 1 < f.length; i += 2, k++) {
      const kind = kindAt(k);
      if (kind < K.Xff || kind > K.XRealIp) continue;
      // Already dropped (named in Connection, say): it no longer speaks for the client.
      if (f[i] === "") continue;
      const v = f[i + 1] as string;
      // Repeats are joined, as one comma-separated list.
      if (kind === K.Xff) xff = xff === undefined ? v : `${xff}, ${v}`;
      else if (kind === K.Xfp) xfp = xfp === undefined ? v : `${xfp}, ${v}`;
      else if (kind === K.Xfh) xfh = xfh === undefined ? v : `${xfh}, ${v}`;
      f[i] = "";
    }
  }
  r.forwarded = forwardedFields(r.peer, r.host, xff, xfp, xfh);
  return undefined;
}

/**
 * The rules, in order: the 400s first, then connection closing (so a refusal still honours it),
 * then the one table read, then what goes upstream. The first refusal ends the request; `r.close`
 * and `r.revision` still say what the passes before it found. Written as one chain of direct calls,
 * not a loop over an array: a call site that sees every pass would cost more than some passes do.
 */
export function runPasses(r: PassRequest, env: PassEnv): Refusal | undefined {
  // The fast path reuses one PassRequest per connection: nothing found for the last request may stay.
  r.path = "";
  r.host = undefined;
  r.close = false;
  r.chunked = false;
  r.length = -1;
  r.target = undefined;
  r.revision = -1;
  r.forwarded = undefined;
  r.start = env.timed === true ? performance.now() : 0;
  return (
    classify(r) ??
    requestId(r) ??
    originForm(r) ??
    oneHost(r) ??
    singletons(r) ??
    contentLength(r) ??
    connectionClose(r) ??
    resolve(r, env) ??
    hopByHop(r) ??
    underscores(r, env) ??
    forwarded(r)
  );
}

/** The request head as it goes upstream (latin1): its kept fields as sent, then the edge's own. */
export function upstreamHead(r: PassRequest): string {
  const f = r.fields;
  const t = r.target as ForwardTarget;
  let head = `${r.method} ${r.url} HTTP/1.1\r\n`;
  for (let i = 0; i + 1 < f.length; i += 2) {
    const name = f[i] as string;
    if (name !== "") head += `${name}: ${f[i + 1] as string}\r\n`;
  }
  if (r.host === undefined) head += `host: ${t.address.kind === "unix" ? "localhost" : t.address.key}\r\n`;
  const fw = r.forwarded as ForwardedFields;
  head += `x-forwarded-for: ${fw.forwardedFor}\r\nx-real-ip: ${fw.realIp}\r\nx-forwarded-proto: ${fw.proto}\r\nx-request-id: ${r.requestId}\r\n`;
  if (fw.host !== undefined) head += `x-forwarded-host: ${fw.host}\r\n`;
  return head + (t.keepalive === 0 ? "connection: close\r\n\r\n" : "\r\n");
}
