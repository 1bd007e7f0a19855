import type { ForwardedFields } from "../headers.js";
import { validName, validValue, isOws } from "../h1/syntax.js";

/**
 * The fast path's request-head reader. It accepts only a narrow, unambiguous subset of HTTP/1.1 and
 * says "not mine" (undefined) for everything else, which then goes to Node's own HTTP server with
 * the bytes untouched. So it never has to refuse anything itself: its strictness decides only which
 * parser handles a request, never whether a malformed one gets through.
 *
 * Accepted: `METHOD SP /origin-form SP HTTP/1.1` for the usual methods, then `name: value` lines (RFC 9110 tchar names;
 * values of HTAB, SP, VCHAR, obs-text), exactly one Host, no body (no Content-Length but `0`, no
 * Transfer-Encoding), no Expect or Upgrade, a Connection that says only keep-alive or close, at most
 * one of each X-Forwarded-* field, at most MAX_FIELDS lines. Other repeated fields go upstream line
 * by line as sent, as nginx forwards them (Node's path joins or drops some repeats).
 */

export interface FastRequest {
  readonly method: string;
  /** The request target as sent (origin-form, query included). */
  readonly url: string;
  /** The target without its query: what routes. */
  readonly path: string;
  readonly host: string;
  /** The header lines that go upstream, each `name: value\r\n`: hop-by-hop and forwarding fields removed. */
  readonly lines: string;
  readonly forwardedFor: string | undefined;
  readonly forwardedProto: string | undefined;
  readonly forwardedHost: string | undefined;
  /** The client sent `Connection: close`. */
  readonly close: boolean;
}

const MAX_FIELDS = 100;
const HTTP11 = " HTTP/1.1";

// Lengths of the names this reader acts on (host 4, expect 6, upgrade/trailer 7, x-real-ip 9,
// connection/keep-alive 10, content-length 14, x-forwarded-for 15, proxy-connection and
// x-forwarded-host 16, transfer-encoding and x-forwarded-proto 17, te 2): any other name is kept
// without being lowercased.
const WATCHED_LENGTHS = new Uint8Array(18);
for (const n of [2, 4, 6, 7, 9, 10, 14, 15, 16, 17]) WATCHED_LENGTHS[n] = 1;

// The methods this path forwards. Others (CONNECT, WebDAV's, unknown tokens) go to Node's server,
// which knows which of them it accepts and how each is framed.
const METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

/** Origin-form: starts with "/", visible ASCII only. */
function validTarget(s: string, from: number, to: number): boolean {
  if (to <= from || s.charCodeAt(from) !== 47) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

/** Only the two tokens this path implements; `close` wins. Undefined for anything else. */
function connectionCloses(value: string): boolean | undefined {
  let close = false;
  for (const token of value.split(",")) {
    const t = token.trim().toLowerCase();
    if (t === "close") close = true;
    else if (t !== "keep-alive") return undefined;
  }
  return close;
}

/** `head` is the request head up to, not including, its blank line, decoded as latin1. */
export function readRequestHead(head: string): FastRequest | undefined {
  const len = head.length;
  let eol = head.indexOf("\r\n");
  if (eol < 0) eol = len;
  const sp = head.indexOf(" ");
  const method = sp < 0 || sp > eol ? "" : head.slice(0, sp);
  if (!METHODS.has(method)) return undefined;
  if (eol - sp < HTTP11.length + 2 || !head.startsWith(HTTP11, eol - HTTP11.length)) return undefined;
  const targetEnd = eol - HTTP11.length;
  if (!validTarget(head, sp + 1, targetEnd)) return undefined;
  const url = head.slice(sp + 1, targetEnd);
  const q = url.indexOf("?");

  let lines = "";
  let host: string | undefined;
  let xff: string | undefined;
  let xfp: string | undefined;
  let xfh: string | undefined;
  let close = false;
  let zeroLength = false;
  let fields = 0;
  let pos = eol + 2;
  while (pos < len) {
    if (++fields > MAX_FIELDS) return undefined;
    let next = head.indexOf("\r\n", pos);
    if (next < 0) next = len;
    const colon = head.indexOf(":", pos);
    // Also refuses obs-fold (a line starting with SP/HTAB has no valid name) and empty names.
    if (colon <= pos || colon >= next || !validName(head, pos, colon)) return undefined;
    let vs = colon + 1;
    let ve = next;
    while (vs < ve && isOws(head.charCodeAt(vs))) vs++;
    while (ve > vs && isOws(head.charCodeAt(ve - 1))) ve--;
    if (!validValue(head, vs, ve)) return undefined;
    const name = head.slice(pos, colon);
    const value = head.slice(vs, ve);
    pos = next + 2;
    const lower = WATCHED_LENGTHS[name.length] === 1 ? name.toLowerCase() : "";
    switch (lower) {
      case "host":
        if (host !== undefined) return undefined;
        host = value;
        break;
      case "content-length":
        if (value !== "0" || zeroLength) return undefined;
        zeroLength = true;
        break;
      case "transfer-encoding":
      case "expect":
      case "upgrade":
        return undefined;
      case "connection": {
        const c = connectionCloses(value);
        if (c === undefined) return undefined;
        close ||= c;
        continue;
      }
      case "keep-alive":
      case "proxy-connection":
      case "te":
      case "trailer":
      case "x-real-ip":
        continue;
      case "x-forwarded-for":
        if (xff !== undefined) return undefined;
        xff = value;
        continue;
      case "x-forwarded-proto":
        if (xfp !== undefined) return undefined;
        xfp = value;
        continue;
      case "x-forwarded-host":
        if (xfh !== undefined) return undefined;
        xfh = value;
        continue;
    }
    lines += `${name}: ${value}\r\n`;
  }
  if (host === undefined) return undefined;
  return {
    method,
    url,
    path: q < 0 ? url : url.slice(0, q),
    host,
    lines,
    forwardedFor: xff,
    forwardedProto: xfp,
    forwardedHost: xfh,
    close,
  };
}

/** The request as it goes upstream: its own lines, then the edge's forwarding fields. */
export function upstreamRequestHead(req: FastRequest, f: ForwardedFields, keepalive: number): string {
  return (
    `${req.method} ${req.url} HTTP/1.1\r\n${req.lines}` +
    `x-forwarded-for: ${f.forwardedFor}\r\nx-real-ip: ${f.realIp}\r\nx-forwarded-proto: ${f.proto}\r\n` +
    (f.host === undefined ? "" : `x-forwarded-host: ${f.host}\r\n`) +
    (keepalive <= 0 ? "connection: close\r\n\r\n" : "\r\n")
  );
}
