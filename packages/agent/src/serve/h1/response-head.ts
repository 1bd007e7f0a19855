import { KEEP_ALIVE_TIMEOUT, contentLength, digitAt, hasTab, isOws, tokenList, validName, validValue } from "./syntax.js";

/**
 * Reads one complete response head (status line and header lines, without the blank line that ends
 * it) for the h1 response parser, and decides the response's framing (RFC 9112 §6.3): no body for
 * HEAD, 1xx, 204 and 304; then chunked, then Content-Length, else the body runs until close.
 *
 * Refused (ResponseParseError): a malformed status line, an unrequested 101, malformed or obs-folded
 * header lines, control characters, a 1xx that closes the connection, Content-Length with Transfer-Encoding, Content-Length values
 * that disagree or are not plain digits, chunked that is not the final coding, and a tab anywhere in
 * a Content-Length or Transfer-Encoding line, or a transfer coding that is not a token: llhttp, the
 * parser in Node's client behind us, reads `chunked<TAB>` or `chunked<NBSP>` as not chunked and
 * refuses `3<TAB>`, so these are ambiguous framing (F1).
 */

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  /** [name, value, name, value, ...] in the upstream's spelling and order. */
  readonly rawHeaders: string[];
  /** The Connection field's value(s), for hop-by-hop stripping. */
  readonly connection: string | undefined;
  /** The upstream lets the connection be reused after this response (version and Connection). */
  readonly keepAlive: boolean;
  /** `Keep-Alive: timeout=N` in ms, when the upstream sent one. */
  readonly idleHintMs: number | undefined;
  /** How the body is delimited: not at all, by Content-Length, by chunks, or by the upstream closing. */
  readonly body: "none" | "length" | "chunked" | "close";
}

export class ResponseParseError extends Error {}

export function fail(message: string): never {
  throw new ResponseParseError(message);
}

function digit(s: string, at: number): number {
  const c = digitAt(s, at);
  if (c < 0) fail("malformed status line");
  return c;
}

/** Filled in by readHead for a final response: its Content-Length (-1 when none). */
export interface HeadExtra {
  length: number;
}

/**
 * Reads `text`, a whole head without its final CRLFCRLF. Returns undefined for an informational
 * (1xx) head, which is not passed on; the final response follows it.
 */
export function readHead(text: string, headRequest: boolean, extra: HeadExtra): ResponseHead | undefined {
  const len = text.length;
  let eol = text.indexOf("\r\n");
  if (eol < 0) eol = len;
  // "HTTP/1.x NNN" then optionally " reason": checked by position rather than with a regex, since
  // this runs once per proxied request.
  if (eol < 12 || !text.startsWith("HTTP/1.") || text.charCodeAt(8) !== 32 || (eol > 12 && text.charCodeAt(12) !== 32)) fail("malformed status line");
  const minor = text.charCodeAt(7);
  if (minor !== 48 && minor !== 49) fail("malformed status line");
  const status = digit(text, 9) * 100 + digit(text, 10) * 10 + digit(text, 11);
  if (status < 100) fail("malformed status line");
  if (status === 101) fail("unrequested protocol switch (101)");
  const reason = eol > 13 ? text.slice(13, eol) : "";
  if (!validValue(text, 13, eol)) fail("control character in the reason phrase");
  const http10 = minor === 48;

  const rawHeaders: string[] = [];
  let connection: string | undefined;
  let te: string | undefined;
  let length: number | undefined;
  let hint: number | undefined;
  /** Something other than the Connection tokens says not to reuse the connection. */
  let closing = false;
  let pos = eol + 2;
  while (pos < len) {
    let next = text.indexOf("\r\n", pos);
    if (next < 0) next = len;
    const colon = text.indexOf(":", pos);
    if (colon <= pos || colon >= next || !validName(text, pos, colon)) fail("malformed header line");
    let vs = colon + 1;
    let ve = next;
    while (vs < ve && isOws(text.charCodeAt(vs))) vs++;
    while (ve > vs && isOws(text.charCodeAt(ve - 1))) ve--;
    if (!validValue(text, vs, ve)) fail("malformed header value");
    const name = text.slice(pos, colon);
    const value = text.slice(vs, ve);
    rawHeaders.push(name, value);
    const n = name.length;
    switch (n === 10 || n === 14 || n === 16 || n === 17 ? name.toLowerCase() : "") {
      case "connection":
        connection = connection === undefined ? value : `${connection}, ${value}`;
        // llhttp does not see keep-alive (or close) next to a tab: when in doubt, do not reuse.
        if (hasTab(text, colon, next)) closing = true;
        break;
      case "proxy-connection":
        // Not for responses, but llhttp (and so Node's client) closes on its `close`: so do we.
        if (/(?:^|[\s,])close(?:$|[\s,])/i.test(value)) closing = true;
        break;
      case "keep-alive": {
        const t = KEEP_ALIVE_TIMEOUT.exec(value);
        if (t) hint = Number(t[1]) * 1000;
        break;
      }
      case "transfer-encoding":
        if (hasTab(text, colon, next)) fail("tab in Transfer-Encoding");
        te = te === undefined ? value : `${te}, ${value}`;
        break;
      case "content-length": {
        if (hasTab(text, colon, next)) fail("tab in Content-Length");
        const n = contentLength(value);
        if (n === -1) fail("invalid Content-Length");
        if (n === -2 || (length !== undefined && length !== n)) fail("conflicting Content-Length values");
        // Agreeing repeats ("2, 2", or two lines) are passed on as one plain value: clients such as
        // Node's and undici's refuse the repeated forms outright.
        if (length !== undefined) rawHeaders.length -= 2;
        else if (value.length !== 1 && String(n) !== value) rawHeaders[rawHeaders.length - 1] = String(n);
        length = n;
        break;
      }
    }
    pos = next + 2;
  }
  // A Connection field that is not a clean token list (an NBSP, a stray character) may be read
  // otherwise by llhttp: when in doubt, do not reuse.
  const tokens = connection === undefined ? [] : tokenList(connection);
  const persistent = !closing && tokens !== undefined && (http10 ? tokens.includes("keep-alive") : !tokens.includes("close"));
  // Whatever follows a 1xx that closes the connection is not a response to this request (llhttp
  // refuses it; HTTP/1.0 has no 1xx at all).
  if (status < 200) {
    if (!persistent) fail("informational response closes the connection");
    return undefined;
  }

  let chunked = false;
  if (te !== undefined) {
    if (length !== undefined) fail("both Content-Length and Transfer-Encoding");
    const codings = tokenList(te);
    if (codings === undefined) fail("malformed Transfer-Encoding");
    const at = codings.indexOf("chunked");
    if (at >= 0 && at !== codings.length - 1) fail("chunked is not the final transfer coding");
    chunked = at >= 0;
  }
  const noBody = headRequest || status === 204 || status === 304;
  const untilClose = !noBody && !chunked && length === undefined;
  const keepAlive = !untilClose && persistent;
  const body = noBody ? "none" : chunked ? "chunked" : untilClose ? "close" : "length";
  extra.length = length ?? -1;
  return { status, reason, rawHeaders, connection, keepAlive, idleHintMs: hint, body };
}
