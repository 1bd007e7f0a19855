import type { BlockList } from "node:net";
import type { ForwardedFields, PeerInfo } from "./headers.js";
import type { ForwardTarget, TableSource } from "./table.js";

/** What the passes (passes.ts) read and rewrite, one per request (one per connection on the fast path), and what they need. */

export interface PassRequest {
  method: string;
  /** The request target as sent (origin-form, query included). */
  url: string;
  /** HTTP/1.0 (Node's door only): Host is optional and keep-alive must be asked for. */
  http10: boolean;
  /**
   * [name, value, ...] as received, values without surrounding whitespace. A pass drops a field by
   * setting its name to "", and rewrites a value in place.
   */
  fields: string[];
  peer: PeerInfo;
  // What the passes found out:
  /** The target's path (no query): what routes. */
  path: string;
  /** The Host value, or undefined when the request has none. */
  host: string | undefined;
  /** The connection closes after this request's response. */
  close: boolean;
  /** The body comes chunked (Node's door; Transfer-Encoding is kept for it). */
  chunked: boolean;
  /** The Content-Length, or -1 without one. */
  length: number;
  target: ForwardTarget | undefined;
  /** The key of the route that decided ("" for the default upstream, or no route). */
  route: string;
  /** The revision of the table that routed (or refused) it; -1 when no table decided. */
  revision: number;
  forwarded: ForwardedFields | undefined;
  /** The X-Request-Id that goes upstream: the client's when well formed, else one made here. */
  requestId: string;
  /** performance.now() when the passes started: the request's start for its duration. */
  start: number;
}

/**
 * Told once per HTTP request when its response is over (front/listener.ts ProxyServerDeps.onResult),
 * with the request as the passes left it. On the fast path `r` is reused by the connection's next
 * request: read it during the call, never keep it.
 */
export type ResultReporter = (upstream: string, status: number, r: PassRequest) => void;

export interface PassEnv {
  readonly table: TableSource;
  readonly trusted: BlockList;
  /** AGENT_UNDERSCORE_HEADERS. */
  readonly underscores: "drop" | "pass";
  /** Stamp each request's start (PassRequest.start) for metrics or the access log; a clock read is not free. */
  readonly timed?: boolean;
}

export function newPassRequest(peer: PeerInfo): PassRequest {
  return { method: "", url: "", http10: false, fields: [], peer, path: "", host: undefined, close: false, chunked: false, length: -1, target: undefined, route: "", revision: -1, forwarded: undefined, requestId: "", start: 0 };
}
