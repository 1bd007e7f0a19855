import { BlockList, isIP, isIPv4, type Socket } from "node:net";

/**
 * Header facts both directions share: which fields belong to one hop only, what the upstream is
 * told about the client (X-Forwarded-*, X-Real-IP), and the response fields a client gets. The
 * request rules that use them are declared in passes.ts.
 */

/** RFC 9110 §7.6.1 connection-specific fields, plus the non-standard Proxy-Connection and Keep-Alive. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

const HOP_BY_HOP_LENGTHS: ReadonlySet<number> = new Set([...HOP_BY_HOP].map((n) => n.length));

/**
 * A `Connection` header may name any field as hop-by-hop. These are never dropped on that say-so:
 * losing Content-Length would change how the body is framed to the next hop (a smuggling vector),
 * losing Host would change which site the upstream serves, and the forwarding headers are the
 * edge's own: a client must not be able to strip the address it came from.
 */
export const NEVER_NAMED_AWAY: ReadonlySet<string> = new Set(["host", "content-length", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip"]);

const ONLY_CHUNKED = /^\s*chunked\s*$/i;
/** A transfer-coding list whose final coding is chunked. */
export const FINAL_CHUNKED = /(?:^|,)\s*chunked\s*$/i;

/** The field names a Connection value lists, lowercased, minus those that may never be named away. */
export function connectionTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(",") : value;
  const out: string[] = [];
  for (const t of joined.split(",")) {
    const name = t.trim().toLowerCase();
    if (name !== "" && !NEVER_NAMED_AWAY.has(name)) out.push(name);
  }
  return out;
}

/**
 * The upstream response's headers without hop-by-hop fields, as the flat [name, value, ...] list
 * `res.writeHead` accepts: built from rawHeaders so repeated fields (Set-Cookie) and the
 * upstream's spelling survive. Node then frames the response for the client itself. A
 * Transfer-Encoding carrying a coding besides `chunked` (gzip, chunked) stays, for the same reason
 * as on requests: Node removed only the chunking and the bytes still carry the rest. When such a
 * coding does not end in `chunked`, the body is delimited by the connection closing, so
 * `Connection: close` is added: otherwise Node would keep the client connection open after a
 * body the client has no way to find the end of.
 */
export function responseHeaders(rawHeaders: readonly string[], connection: string | string[] | undefined): string[] {
  const named = connectionTokens(connection);
  const out: string[] = [];
  let unframed = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    // Every hop-by-hop name is 2, 7, 10, 16 or 17 characters long: with nothing named in
    // Connection, other names are kept without lowercasing them (this runs on every response).
    if (named.length === 0 && !HOP_BY_HOP_LENGTHS.has(name.length)) {
      out.push(name, value);
      continue;
    }
    const lower = name.toLowerCase();
    if (lower === "transfer-encoding" && !ONLY_CHUNKED.test(value)) {
      out.push(name, value);
      if (!FINAL_CHUNKED.test(value)) unframed = true;
      continue;
    }
    if (HOP_BY_HOP.has(lower) || (named.length > 0 && named.includes(lower))) continue;
    out.push(name, value);
  }
  if (unframed) out.push("Connection", "close");
  return out;
}

/**
 * `fields` (a flat [name, value, ...] list) without any field called `name`, plus `name: value`:
 * the routing revision (AGENT_REVISION_HEADER) replaces whatever the upstream sent under that name.
 * `name` is lowercase.
 */
export function stamped(fields: string[], name: string, value: string): string[] {
  let kept = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const n = fields[i] as string;
    if (n.length === name.length && n.toLowerCase() === name) continue;
    fields[kept++] = n;
    fields[kept++] = fields[i + 1] as string;
  }
  fields.length = kept;
  fields.push(name, value);
  return fields;
}

/** Splits a comma- or whitespace-separated list of CIDRs (a bare address means just that address). */
export function parseCidrs(list: string): BlockList {
  const blocks = new BlockList();
  for (const entry of list.split(/[\s,]+/)) {
    if (entry === "") continue;
    const slash = entry.indexOf("/");
    const addr = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw new Error(`invalid CIDR '${entry}': '${addr}' is not an IPv4 or IPv6 address`);
    const max = family === 4 ? 32 : 128;
    const rawPrefix = slash < 0 ? String(max) : entry.slice(slash + 1);
    const prefix = /^[0-9]{1,3}$/.test(rawPrefix) ? Number(rawPrefix) : NaN;
    if (!(prefix >= 0 && prefix <= max)) throw new Error(`invalid CIDR '${entry}': prefix must be 0-${max}`);
    blocks.addSubnet(addr, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  return blocks;
}

/** IPv4 clients of a dual-stack listener show up as ::ffff:a.b.c.d; they are reported as a.b.c.d. */
export function plainAddress(addr: string): string {
  if (addr.startsWith("::ffff:")) {
    const v4 = addr.slice(7);
    if (isIPv4(v4)) return v4;
  }
  return addr;
}

function isTrusted(trusted: BlockList, addr: string): boolean {
  const family = isIP(addr);
  return family !== 0 && trusted.check(addr, family === 4 ? "ipv4" : "ipv6");
}

export interface ForwardedFields {
  forwardedFor: string;
  realIp: string;
  proto: string;
  host: string | undefined;
}

/**
 * What the upstream is told about the client, from the client's own (joined) values.
 *
 * From an untrusted peer every client-sent value is replaced: a client must not be able to claim
 * another address. From a peer in `trusted` (a load balancer in front of the edge), X-Forwarded-For
 * is extended with the peer, X-Forwarded-Proto/Host are kept when present, and X-Real-IP is the
 * right-most address in the chain that is not itself trusted: the first hop no trusted proxy
 * vouches for. The walk stops at an entry that is not an IP address (taking the entry to its right),
 * and if every entry is trusted the left-most one is the client.
 */
export function forwardedFields(peer: PeerInfo, host: string | undefined, clientXff: string | undefined, clientProto: string | undefined, clientHost: string | undefined): ForwardedFields {
  const address = peer.address;
  if (peer.trusted) {
    return {
      forwardedFor: clientXff ? `${clientXff}, ${address}` : address,
      realIp: realIp(clientXff, address, peer.list),
      proto: clientProto ?? "http",
      host: clientHost ?? host,
    };
  }
  return { forwardedFor: address, realIp: address, proto: "http", host };
}

const PEER = Symbol("switchyard peer");
export type PeerInfo = { readonly list: BlockList; readonly address: string; readonly trusted: boolean };

/**
 * The peer of a client connection and whether it is a trusted proxy, worked out once per connection
 * rather than per request: a BlockList check builds a SocketAddress each time, which on a
 * keep-alive connection would cost about a tenth of a proxied request.
 */
export function peerOf(socket: Socket, trusted: BlockList): PeerInfo {
  const s = socket as Socket & { [PEER]?: PeerInfo };
  const known = s[PEER];
  if (known !== undefined && known.list === trusted) return known;
  const address = plainAddress(socket.remoteAddress ?? "");
  const info: PeerInfo = { list: trusted, address, trusted: address !== "" && isTrusted(trusted, address) };
  s[PEER] = info;
  return info;
}

function realIp(clientXff: string | undefined, peer: string, trusted: BlockList): string {
  if (!clientXff) return peer;
  const chain = clientXff.split(",");
  let candidate = peer;
  for (let i = chain.length - 1; i >= 0; i--) {
    const addr = plainAddress((chain[i] as string).trim());
    if (isIP(addr) === 0) return candidate;
    candidate = addr;
    if (!isTrusted(trusted, addr)) return addr;
  }
  return candidate;
}
