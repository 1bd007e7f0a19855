/**
 * HTTP syntax for the h1 response parser. Names and values (RFC 9110 §5) are checked by character
 * code: they run over every header of every proxied response, so they avoid regular expressions.
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

/** A Content-Length value: digits only (no sign, no spaces), at most 15 so it stays a safe integer. */
export const DIGITS = /^[0-9]{1,15}$/;
/** A chunk-size line: up to 12 hex digits (256 TiB), optional extensions. */
export const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;
/** The `timeout=N` parameter of a Keep-Alive header, in seconds. */
export const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*"?([0-9]{1,9})/i;

export const CRLF = Buffer.from("\r\n", "latin1");
/** The blank line that ends a head. */
export const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");
