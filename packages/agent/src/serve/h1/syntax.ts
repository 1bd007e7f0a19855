/**
 * HTTP syntax for the h1 response parser and the fast path's request reader. Names, values and
 * chunk-size lines (RFC 9110 §5, RFC 9112 §7.1) are checked by character code: they run over every
 * header of every proxied response, so they avoid regular expressions.
 */

// RFC 9110 tchar, for header names.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

export function validName(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Field values and reason phrases: HTAB, SP, VCHAR and obs-text; no CR, LF, NUL or other controls. */
export function validValue(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c > 255) return false;
  }
  return true;
}

export function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/** The decimal digit at `at`, or -1. */
export function digitAt(s: string, at: number): number {
  const c = s.charCodeAt(at) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

/** Hex digit values by character code, -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) {
  HEX[d.toString(16).charCodeAt(0)] = d;
  HEX[d.toString(16).toUpperCase().charCodeAt(0)] = d;
}

/** quoted-string text (RFC 9110 §5.6.4): qdtext, or the byte after a backslash in a quoted-pair. */
function qdtext(c: number): boolean {
  return c === 9 || c === 32 || c === 33 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || (c >= 0x80 && c <= 0xff);
}
function quotedPair(c: number): boolean {
  return c === 9 || (c >= 32 && c <= 126) || (c >= 0x80 && c <= 0xff);
}

/** The end of the token starting at `at` (at itself when there is none). */
function tokenEnd(s: string, at: number): number {
  while (at < s.length && TCHAR[s.charCodeAt(at)] === 1) at++;
  return at;
}

/**
 * The size a chunk-size line announces, or -1 when the line is malformed. RFC 9112 §7.1 without the
 * whitespace it tolerates (BWS), as llhttp reads it: 1 to 12 hex digits (256 TiB), then any number
 * of `;name` or `;name=value` extensions, the value a token or a quoted string.
 */
export function chunkSize(line: string): number {
  const len = line.length;
  let i = 0;
  let size = 0;
  for (; i < len; i++) {
    const c = line.charCodeAt(i);
    const d = c < 128 ? (HEX[c] as number) : -1;
    if (d < 0) break;
    if (i === 12) return -1;
    size = size * 16 + d;
  }
  if (i === 0) return -1;
  while (i < len) {
    if (line.charCodeAt(i) !== 59) return -1; // ";"
    const name = tokenEnd(line, i + 1);
    if (name === i + 1) return -1;
    i = name;
    if (i === len || line.charCodeAt(i) !== 61) continue; // "="
    i++;
    if (line.charCodeAt(i) === 34) {
      // A quoted string: up to the closing quote, backslash pairs included.
      for (i++; ; i++) {
        if (i >= len) return -1;
        const c = line.charCodeAt(i);
        if (c === 34) break;
        if (c === 92) {
          if (++i >= len || !quotedPair(line.charCodeAt(i))) return -1;
        } else if (!qdtext(c)) return -1;
      }
      i++;
    } else {
      const value = tokenEnd(line, i);
      if (value === i) return -1;
      i = value;
    }
  }
  return size;
}

/**
 * The lower-cased elements of a comma-separated token list (RFC 9110 §5.6.1 `#token`), empty
 * elements kept as "" (llhttp reads `chunked,` as not chunked: chunked is then not the last element);
 * undefined when an element is not a token. Only SP and HTAB count as whitespace:
 * String.prototype.trim would also strip NBSP (0xA0), which llhttp keeps, so `chunked<NBSP>` would be
 * chunked here and not there.
 */
export function tokenList(value: string): string[] | undefined {
  const out: string[] = [];
  const len = value.length;
  let i = 0;
  while (i <= len) {
    while (i < len && isOws(value.charCodeAt(i))) i++;
    const start = i;
    i = tokenEnd(value, i);
    const end = i;
    while (i < len && isOws(value.charCodeAt(i))) i++;
    if (i < len && value.charCodeAt(i) !== 44) return undefined; // not "," after the token
    out.push(value.slice(start, end).toLowerCase());
    i++;
  }
  return out;
}

/**
 * A Content-Length value: digits, or agreeing comma-separated repeats of them with SP or HTAB around;
 * the length, or -1 when malformed, -2 when the repeats disagree. At most 15 digits (a safe integer).
 */
export function contentLength(value: string): number {
  const len = value.length;
  let length = -1;
  let i = 0;
  while (i <= len) {
    while (i < len && isOws(value.charCodeAt(i))) i++;
    let n = 0;
    const start = i;
    for (let d = digitAt(value, i); d >= 0 && i - start < 15; d = digitAt(value, ++i)) n = n * 10 + d;
    if (i === start || digitAt(value, i) >= 0) return -1;
    while (i < len && isOws(value.charCodeAt(i))) i++;
    if (i < len && value.charCodeAt(i) !== 44) return -1;
    if (length >= 0 && n !== length) return -2;
    length = n;
    i++;
  }
  return length;
}

/** A horizontal tab between `from` and `to`. */
export function hasTab(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 9) return true;
  return false;
}
/** The `timeout=N` parameter of a Keep-Alive header, in seconds. */
export const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*"?([0-9]{1,9})/i;

export const CRLF = Buffer.from("\r\n", "latin1");
/** The blank line that ends a head. */
export const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");
