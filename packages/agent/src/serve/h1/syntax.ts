/**
 * HTTP field syntax (RFC 9110 §5) checked by character code, for the h1 response parser: these
 * run over every header of every proxied response, so they avoid regular expressions.
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
