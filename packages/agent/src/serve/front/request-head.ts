import { isOws, validName, validValue } from "../h1/syntax.js";

/**
 * The fast path's request-head tokenizer. It reads only a narrow, unambiguous subset of HTTP/1.1
 * and says "not mine" (undefined) for everything else, which then goes to Node's own HTTP server
 * with the bytes untouched. It decides nothing about the request: every rule (Host, hop-by-hop,
 * forwarding fields, repeats, routing) is a pass in passes.ts, which both doors run.
 *
 * The subset is a strict subset of what llhttp (Node's parser) accepts, read the same way
 * (test/fast-path-subset.test.ts checks it against llhttp on generated heads): `METHOD SP
 * /origin-form SP HTTP/1.1`, for the usual methods; then `name: value` lines (RFC 9110 tchar names;
 * values of HTAB, SP, VCHAR and obs-text), at most MAX_FIELDS; no body (no Transfer-Encoding, a
 * Content-Length only as a single `0`); no Expect or Upgrade, whose handshakes Node's server runs.
 */

export interface RequestHead {
  method: string;
  /** The request target as sent (origin-form, query included). */
  url: string;
  /** [name, value, ...] in order, names as spelled, values without surrounding whitespace (as llhttp gives them). */
  fields: string[];
}

const MAX_FIELDS = 100;
const HTTP11 = " HTTP/1.1";

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

/**
 * A zero Content-Length as llhttp reads it: OWS, `0`, then spaces only. llhttp refuses a tab after
 * the digits (`0<TAB>`), so this must too.
 */
function zeroLength(s: string, from: number, to: number): boolean {
  let i = from;
  while (i < to && isOws(s.charCodeAt(i))) i++;
  if (s.charCodeAt(i) !== 48) return false;
  for (i++; i < to; i++) if (s.charCodeAt(i) !== 32) return false;
  return true;
}

/**
 * Whether a name may be one this reader acts on (content-length, transfer-encoding, expect, upgrade),
 * by length and first letter: any other name is passed on without being lowercased.
 */
function framing(name: string): boolean {
  const len = name.length;
  const c = name.charCodeAt(0) | 0x20;
  return (len === 14 && c === 99) || (len === 17 && c === 116) || (len === 6 && c === 101) || (len === 7 && c === 117);
}

/**
 * `head` is the request head up to, not including, its blank line, decoded as latin1. Fills `into`
 * (its `fields` array is reused) and returns it, or undefined for a head that is not the fast path's.
 */
export function readRequestHead(head: string, into: RequestHead = { method: "", url: "", fields: [] }): RequestHead | undefined {
  const len = head.length;
  let eol = head.indexOf("\r\n");
  if (eol < 0) eol = len;
  const sp = head.indexOf(" ");
  const method = sp < 0 || sp > eol ? "" : head.slice(0, sp);
  if (!METHODS.has(method)) return undefined;
  if (eol - sp < HTTP11.length + 2 || !head.startsWith(HTTP11, eol - HTTP11.length)) return undefined;
  const targetEnd = eol - HTTP11.length;
  if (!validTarget(head, sp + 1, targetEnd)) return undefined;

  const fields = into.fields;
  fields.length = 0;
  let zero = false;
  let pos = eol + 2;
  while (pos < len) {
    if (fields.length >= 2 * MAX_FIELDS) return undefined;
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
    if (framing(name)) {
      switch (name.toLowerCase()) {
        case "content-length":
          if (zero || !zeroLength(head, colon + 1, next)) return undefined;
          zero = true;
          break;
        case "transfer-encoding":
        case "expect":
        case "upgrade":
          return undefined;
      }
    }
    fields.push(name, head.slice(vs, ve));
    pos = next + 2;
  }
  into.method = method;
  into.url = head.slice(sp + 1, targetEnd);
  return into;
}
