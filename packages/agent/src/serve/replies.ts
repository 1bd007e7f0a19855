import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

/**
 * The edge's own answers: small JSON `{error, message}` bodies that never carry a stack, an
 * internal error text or an upstream's address (a client learns at most a pool's name).
 */

/** An answer of the edge's own: its status and JSON body. */
export interface Refusal {
  readonly status: number;
  readonly error: string;
  readonly message: string;
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

/** What the client is told when its upstream failed (502) or timed out (504): the pool's name, or nothing that locates it. */
export function upstreamFailure(status: 502 | 504, pool: string | undefined): Refusal {
  const who = pool === undefined ? "the upstream" : `upstream pool '${pool}'`;
  return status === 504
    ? { status, error: "gateway_timeout", message: `${who} did not answer in time` }
    : { status, error: "bad_gateway", message: `${who} is unreachable or failed` };
}

/** On a ServerResponse. `stamp` is an extra field (the routing revision); `close` ends the connection after it. */
export function sendError(res: ServerResponse, r: Refusal, close: boolean, stamp?: readonly [string, string]): void {
  const body = JSON.stringify({ error: r.error, message: r.message });
  const headers: Record<string, string | number> = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  };
  if (stamp !== undefined) headers[stamp[0]] = stamp[1];
  if (close) headers.connection = "close";
  res.writeHead(r.status, headers).end(body);
}

/**
 * The same answer as raw bytes, for the places with no ServerResponse: the fast path, failed
 * upgrades, unparsable requests. `extra` is more header lines (each ending in CRLF); with `close`
 * the connection is to be closed after it; `headOnly` answers a HEAD (the length its body would
 * have had, and no body).
 */
export function rawErrorResponse(r: Refusal, opts: { close: boolean; headOnly?: boolean; extra?: string }): string {
  const body = JSON.stringify({ error: r.error, message: r.message });
  return (
    `HTTP/1.1 ${r.status} ${REASONS[r.status] ?? "Error"}\r\n` +
    "content-type: application/json\r\n" +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    "cache-control: no-store\r\n" +
    (opts.extra ?? "") +
    (opts.close ? "connection: close\r\n\r\n" : "\r\n") +
    (opts.headOnly ? "" : body)
  );
}

/** Written onto a raw socket, which is closed after it: what follows on it can no longer be framed. */
export function sendSocketError(socket: Duplex, r: Refusal): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawErrorResponse(r, { close: true }), () => socket.destroy());
}
