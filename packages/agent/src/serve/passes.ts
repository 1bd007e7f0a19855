import { normalizeHost } from "@switchyard/shared";
import { forwardedFields, type ForwardedFields } from "./headers.js";
import { K, SINGLETONS, SINGLETON_BITS, UNDERSCORE, bit, connectionValue, kindOf } from "./field-kinds.js";
import type { Refusal } from "./replies.js";
import { newRequestId, wellFormedRequestId } from "./request-id.js";
import type { PassEnv, PassRequest } from "./pass-request.js";
import type { ForwardTarget } from "./table.js";

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

export type { PassEnv, PassRequest, ResultReporter } from "./pass-request.js";
export { newPassRequest } from "./pass-request.js";

let kinds = new Uint8Array(256);
/** The kind of the k-th field of the current request. */
const kindAt = (k: number): number => (kinds[k] as number) & 0x7f;
/** Which kinds the current request has (bit per kind; UNDERSCORE_BIT for a name with '_'). */
let present = 0;
const UNDERSCORE_BIT = 1 << 30;

const bad = (message: string): Refusal => ({ status: 400, error: "bad_request", message });
const NOT_READY: Refusal = Object.freeze({ status: 503, error: "not_ready", message: "no route table applied yet" });

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
