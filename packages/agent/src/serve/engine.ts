import type { Logger } from "pino";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { formatAddress, parseAddress, type Address } from "@switchyard/shared";

/**
 * The forwarding boundary: the proxy server decides *where* a request goes, an engine moves the
 * bytes. Everything an engine must guarantee is pinned by test/proxy-conformance.ts, so a second
 * implementation (undici, say) can be dropped in and checked against the same suite.
 */

/**
 * A parsed upstream address plus its canonical spelling. `key` is computed once, when the table is
 * compiled, because engines index per-target state (connection pools) by it on every request.
 */
export type Target = Address & { readonly key: string };

/** Idle keep-alive connections per target when the pool does not say. */
export const DEFAULT_KEEPALIVE = 32;

export interface ForwardTarget {
  address: Target;
  /** Idle connections to keep for this target; 0 closes each upstream connection after use. */
  keepalive: number;
  /** Pool name or address, for logs. */
  upstreamLabel: string;
}

export interface ForwardEngine {
  /**
   * Proxies one request and owns `res` from here on: it always ends or destroys it, answering
   * 502/504 itself when the upstream fails. Never throws for upstream or client failures.
   */
  forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): void;
  /** Proxies a WebSocket handshake the caller has already vetted; owns `socket` from here on. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget): void;
  /**
   * Forgets per-target state for targets outside `keys` (Target.key values), after a table swap.
   * Idle connections close now; busy ones close when their response ends, so nothing in flight breaks.
   */
  retain(keys: ReadonlySet<string>): void;
  /** Closes every upstream connection, busy or not. */
  close(): void;
}

// Every table compile resolves every pool target again, and a fleet's tables name the same few
// addresses revision after revision: parse each spelling once. Targets are frozen, so sharing one
// between tables (and between the sync instances of one process) is safe. Bounded: a process that
// has seen more distinct spellings than this simply starts over.
const TARGET_CACHE_MAX = 100_000;
const targets = new Map<string, Target>();

/** Throws on a malformed address: tables are compiled from validated state, so this is a bug. */
export function toTarget(raw: string): Target {
  const known = targets.get(raw);
  if (known !== undefined) return known;
  const r = parseAddress(raw);
  if (!r.ok) throw new Error(`invalid upstream address '${raw}': ${r.message}`);
  const target: Target = Object.freeze({ ...r.address, key: formatAddress(r.address) });
  if (targets.size >= TARGET_CACHE_MAX) targets.clear();
  targets.set(raw, target);
  return target;
}

// Once the status line is on the wire a failure can only be signalled by cutting the connection,
// so the status a client observed no longer says what went wrong. Engines record it here instead,
// for whoever counts results; a WeakMap keeps it off the response object and collects with it.
const failures = new WeakMap<ServerResponse, number>();

export function noteFailure(res: ServerResponse, status: number): void {
  failures.set(res, status);
}

export function failureOf(res: ServerResponse): number | undefined {
  return failures.get(res);
}

/** The edge's own error bodies: small, JSON, and never carrying a stack or an internal error text. */
export function sendError(res: ServerResponse, status: number, error: string, message: string, close = false): void {
  const body = JSON.stringify({ error, message });
  const headers: Record<string, string | number> = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  };
  if (close) headers.connection = "close";
  res.writeHead(status, headers).end(body);
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * The same error shape as raw bytes, for the places with no ServerResponse: failed upgrades,
 * unparsable requests and the fast path (serve/front/). With `close`, the connection is to be
 * closed after it.
 */
export function rawErrorResponse(status: number, error: string, message: string, opts: { close: boolean; headOnly?: boolean; extra?: string }): string {
  const body = JSON.stringify({ error, message });
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
    "content-type: application/json\r\n" +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    "cache-control: no-store\r\n" +
    (opts.extra ?? "") +
    (opts.close ? "connection: close\r\n\r\n" : "\r\n") +
    // A response to HEAD carries the length its body would have had, and no body.
    (opts.headOnly ? "" : body)
  );
}

/** Written onto a raw socket, which is closed after it: what follows on it can no longer be framed. */
export function sendSocketError(socket: Duplex, status: number, error: string, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawErrorResponse(status, error, message, { close: true }), () => socket.destroy());
}

/** What the client is told when its upstream failed (502) or timed out (504). */
export function upstreamFailure(status: 502 | 504, label: string): { error: string; message: string } {
  return status === 504
    ? { error: "gateway_timeout", message: `upstream ${label} did not answer in time` }
    : { error: "bad_gateway", message: `upstream ${label} is unreachable or failed` };
}

/**
 * How every engine answers an upstream that failed (502) or timed out (504): small JSON while the
 * status line is still ours to send; after that the client connection is cut, and the failure is
 * noted so the result report still counts it.
 */
export function failUpstream(res: ServerResponse, status: 502 | 504, label: string, err: Error, log?: Logger): void {
  log?.warn({ upstream: label, status, err: err.message }, "upstream request failed");
  if (res.headersSent) {
    noteFailure(res, status);
    res.destroy();
    return;
  }
  const f = upstreamFailure(status, label);
  sendError(res, status, f.error, f.message);
}
