import { isIPv4, isIPv6 } from "node:net";

/** A parsed upstream address. Hostnames are allowed (compose service names), IP literals must be well formed. */
export type Address =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

export type AddressResult = { ok: true; address: Address } | { ok: false; message: string };

// sun_path is 108 bytes including the terminating NUL on Linux.
const MAX_UNIX_PATH = 107;
const HOSTNAME_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const PORT = /^[0-9]{1,5}$/;

/** True when the string is an address rather than a pool name: pool names never contain ':'. */
export function looksLikeAddress(s: string): boolean {
  return s.includes(":");
}

function parsePort(raw: string): number | string {
  if (!PORT.test(raw)) return `port '${raw}' is not a number`;
  const port = Number(raw);
  if (port < 1 || port > 65535) return `port ${port} is outside 1-65535`;
  return port;
}

function checkHostname(host: string): string | undefined {
  if (host.length === 0) return "host is empty";
  // Anything made only of digits and dots claims to be IPv4 and must be one: this is what
  // rejects the seed's typo 127.0.0.0.:38888 instead of resolving it as a DNS name.
  if (/^[0-9.]+$/.test(host)) {
    return isIPv4(host) ? undefined : `'${host}' is not a valid IPv4 address`;
  }
  if (host.length > 253) return "hostname is longer than 253 characters";
  for (const label of host.split(".")) {
    if (!HOSTNAME_LABEL.test(label)) return `'${host}' is not a valid hostname or IP address`;
  }
  return undefined;
}

export function parseAddress(raw: string): AddressResult {
  if (/[\s\0]/.test(raw)) return { ok: false, message: "address must not contain spaces, CR, LF or NUL" };
  if (raw.startsWith("unix:")) {
    const path = raw.slice(5);
    if (!path.startsWith("/")) return { ok: false, message: `unix socket path '${path}' must be absolute` };
    if (Buffer.byteLength(path) > MAX_UNIX_PATH) return { ok: false, message: `unix socket path is longer than ${MAX_UNIX_PATH} bytes` };
    if (path.includes("/../") || path.endsWith("/..")) return { ok: false, message: "unix socket path must not contain '..'" };
    return { ok: true, address: { kind: "unix", path } };
  }
  let host: string;
  let portRaw: string;
  if (raw.startsWith("[")) {
    const close = raw.indexOf("]");
    if (close < 0 || raw[close + 1] !== ":") return { ok: false, message: "IPv6 address must look like [addr]:port" };
    host = raw.slice(1, close);
    portRaw = raw.slice(close + 2);
    if (!isIPv6(host)) return { ok: false, message: `'${host}' is not a valid IPv6 address` };
  } else {
    const colon = raw.lastIndexOf(":");
    if (colon < 0) return { ok: false, message: "address must be host:port, [ipv6]:port or unix:/path.sock" };
    host = raw.slice(0, colon);
    portRaw = raw.slice(colon + 1);
    if (host.includes(":")) return { ok: false, message: "IPv6 addresses must be written in brackets: [addr]:port" };
    const bad = checkHostname(host);
    if (bad) return { ok: false, message: bad };
  }
  const port = parsePort(portRaw);
  if (typeof port === "string") return { ok: false, message: port };
  return { ok: true, address: { kind: "tcp", host, port } };
}

export function formatAddress(a: Address): string {
  if (a.kind === "unix") return `unix:${a.path}`;
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
