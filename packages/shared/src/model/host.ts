import { isIPv4 } from "node:net";

/**
 * Route hosts: DNS names or IPv4 literals, optionally with one leading wildcard label (`*.example.com`).
 * IPv6-literal hosts are not routable by name; such requests fall through to the default upstream.
 */
const FORBIDDEN = /[\s\0]/;
const GLOB = /[*?[\]{}]/;
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Lower-cases, strips a `:port` and a trailing dot. Used on route keys and on request Host headers,
 * so both sides agree on one spelling. Returns "" for input that cannot be a host.
 */
export function normalizeHost(raw: string): string {
  let h = raw.trim().toLowerCase();
  if (h.startsWith("[")) {
    const close = h.indexOf("]");
    return close > 0 ? h.slice(0, close + 1) : "";
  }
  const colon = h.indexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

/** Validates a route key as given (before normalization), so CR/LF is reported rather than trimmed away. */
export function hostProblem(raw: string): string | undefined {
  if (FORBIDDEN.test(raw)) return "host must not contain spaces, CR, LF or NUL";
  const host = normalizeHost(raw);
  if (host.length === 0) return "host is empty";
  if (host.length > 253) return "host is longer than 253 characters";
  const body = host.startsWith("*.") ? host.slice(2) : host;
  if (GLOB.test(body)) return "host may contain '*' only as a leading '*.' label, and never ? [ ] { }";
  for (const label of body.split(".")) {
    if (!LABEL.test(label)) return `'${host}' is not a valid host name`;
    // Hosts key objects everywhere (state, tables, cutover records); this one key is a trap on any
    // plain object. No DNS name has it: '_' is not a hostname character.
    if (label === "__proto__") return "'__proto__' is reserved and cannot be a host or a label of one";
  }
  if (/^[0-9.]+$/.test(body) && !isIPv4(body)) return `'${host}' is not a valid IPv4 address`;
  return undefined;
}

export function isWildcard(host: string): boolean {
  return host.startsWith("*.");
}
