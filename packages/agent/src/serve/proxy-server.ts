import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { BlockList, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { normalizeHost } from "@switchyard/shared";
import type { Logger } from "pino";
import { failureOf, sendError, sendSocketError, type ForwardEngine } from "./engine.js";
import { setForwardingHeaders } from "./headers.js";
import { installFastPath, type PoolSource } from "./front/fast-path.js";
import type { Resolution, RouteTable } from "./table.js";

/**
 * The edge's HTTP listener: request -> resolve -> forward. It never listens by itself; the caller
 * binds it (and drains it on shutdown).
 *
 * Invariants: the table is read once per request, so a concurrent swap can never split one
 * request's routing across two revisions; every request ends in a response or a closed socket,
 * whatever the client or the upstream does; nothing here throws into Node's event loop.
 */

export interface ProxyServerDeps {
  /** The current table, swapped atomically by the sync layer; never mutated. */
  getTable(): RouteTable | undefined;
  engine: ForwardEngine;
  trustedProxies: BlockList;
  log: Logger;
  /**
   * Called once per HTTP request when its response is over, with the status the client got; 502 or
   * 504 when the upstream failed after the status line was sent; 499 when the client went away
   * first. Requests the edge answered itself (not ready, no route, bad request) are labelled "-".
   * WebSocket upgrades are not reported.
   */
  onResult?: (upstream: string, status: number) => void;
  /**
   * The h1 engine's pools, to serve plain bodiless requests on the fast path (front/fast-path.ts)
   * instead of through Node's request and response objects. Without it every request takes Node's.
   */
  fastPath?: PoolSource;
}

/** Server timeouts, each chosen rather than inherited. */
export const SERVER_TIMEOUTS = Object.freeze({
  /** A client gets 20 s to send its headers: slow-loris connections are cut, real clients never notice. */
  headersTimeout: 20_000,
  /** Whole request, body included, within 5 min: long uploads work, a trickling one cannot hold a socket forever. */
  requestTimeout: 300_000,
  /**
   * Idle client keep-alive connections close after 5 s. Load balancers in front of the edge must
   * keep theirs shorter (or they may reuse a socket we are closing), so this stays at Node's default.
   */
  keepAliveTimeout: 5_000,
  /** How often Node enforces the two request timeouts; its default (30 s) would blur 20 s into 50. */
  connectionsCheckingInterval: 1_000,
});

const EDGE = "-";

function duplicateHost(rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 4 && name.toLowerCase() === "host") {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

/** Origin-form only: `GET http://other/ HTTP/1.1` would route by Host but claim another authority. */
function requestPath(url: string | undefined): string | undefined {
  if (url === undefined || url.charCodeAt(0) !== 47 /* "/" */) return undefined;
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

type Vetted = { ok: true; resolution: Extract<Resolution, { kind: "target" }> } | { ok: false; status: number; error: string; message: string };

function vet(req: IncomingMessage, table: RouteTable | undefined): Vetted {
  if (duplicateHost(req.rawHeaders)) return { ok: false, status: 400, error: "bad_request", message: "more than one Host header" };
  const path = requestPath(req.url);
  if (path === undefined) return { ok: false, status: 400, error: "bad_request", message: "request target must be a path starting with '/'" };
  if (!table) return { ok: false, status: 503, error: "not_ready", message: "no route table applied yet" };
  const host = normalizeHost(req.headers.host ?? "");
  const resolution = table.resolve(host, path);
  if (resolution.kind === "no_route") return { ok: false, status: 404, error: "no_route", message: `no route for host '${host}'` };
  return { ok: true, resolution };
}

// Per-request bookkeeping rides on the objects themselves (one shape for every response and socket)
// rather than in per-request closures or a WeakSet: this runs on every request.
const LABEL = Symbol("switchyard upstream label");
const SOCKET = Symbol("switchyard socket");
const BUSY = Symbol("switchyard busy");
type Tracked = ServerResponse & { [LABEL]: string; [SOCKET]: Busy };
/**
 * Responses under way on a client socket (more than one when the client pipelines): a parse error
 * on a busy socket must not write a second status line.
 */
type Busy = Socket & { [BUSY]?: number };

export function createProxyServer(deps: ProxyServerDeps): Server {
  const { engine, trustedProxies, log, onResult } = deps;

  /** The one close listener of every response: socket bookkeeping and, when asked for, the result report. */
  function onResponseClose(this: Tracked): void {
    this[SOCKET][BUSY] = (this[SOCKET][BUSY] ?? 1) - 1;
    if (!onResult) return;
    const status = failureOf(this) ?? (this.writableFinished ? this.statusCode : 499);
    try {
      onResult(this[LABEL], status);
    } catch (err) {
      log.error({ err }, "onResult threw");
    }
  }

  const server = createServer({ ...SERVER_TIMEOUTS }, (req, response) => {
    const res = response as Tracked;
    const socket: Busy = req.socket;
    socket[BUSY] = (socket[BUSY] ?? 0) + 1;
    res[LABEL] = EDGE;
    res[SOCKET] = socket;
    res.on("close", onResponseClose);

    const v = vet(req, deps.getTable());
    if (!v.ok) {
      // A request that arrived with two Hosts or an odd target may be framed oddly too; do not reuse.
      sendError(res, v.status, v.error, v.message, v.status === 400);
      return;
    }
    const target = v.resolution.forward;
    res[LABEL] = target.upstreamLabel;
    try {
      setForwardingHeaders(req, trustedProxies);
      engine.forward(req, res, target);
    } catch (err) {
      log.error({ err, upstream: target.upstreamLabel }, "forwarding threw");
      if (!res.headersSent) sendError(res, 502, "bad_gateway", `could not forward to ${target.upstreamLabel}`);
      else res.destroy();
    }
  });
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveTimeout;
  if (deps.fastPath !== undefined) {
    const installed = installFastPath(server, {
      pools: deps.fastPath,
      getTable: deps.getTable,
      trusted: trustedProxies,
      log,
      onResult,
      keepAliveTimeoutMs: SERVER_TIMEOUTS.keepAliveTimeout,
    });
    if (!installed) log.warn("fast path not installed: Node's HTTP server has an unexpected connection handler; every request takes Node's path");
  }

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", (err) => log.debug({ err: err.message }, "upgrade socket error"));
    const upgrade = req.headers.upgrade;
    if (req.method !== "GET" || typeof upgrade !== "string" || upgrade.trim().toLowerCase() !== "websocket") {
      sendSocketError(socket, 400, "bad_request", "only WebSocket upgrades (GET with Upgrade: websocket) are proxied");
      return;
    }
    const v = vet(req, deps.getTable());
    if (!v.ok) {
      sendSocketError(socket, v.status, v.error, v.message);
      return;
    }
    const target = v.resolution.forward;
    try {
      setForwardingHeaders(req, trustedProxies);
      engine.upgrade(req, socket, head, target);
    } catch (err) {
      log.error({ err, upstream: target.upstreamLabel }, "upgrade threw");
      sendSocketError(socket, 502, "bad_gateway", `could not forward to ${target.upstreamLabel}`);
    }
  });

  // Replaces Node's default handler, which would answer the same way but without the JSON body.
  // Also where socket errors of HTTP connections land, so none of them is ever unhandled.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? "";
    if (code === "ECONNRESET" || code === "EPIPE" || !socket.writable || ((socket as Busy)[BUSY] ?? 0) > 0) {
      socket.destroy();
      return;
    }
    log.debug({ code }, "unparsable request");
    if (code === "ERR_HTTP_REQUEST_TIMEOUT") sendSocketError(socket, 408, "request_timeout", "the request was not received in time");
    else if (code === "HPE_HEADER_OVERFLOW") sendSocketError(socket, 431, "headers_too_large", "request headers are too large");
    else sendSocketError(socket, 400, "bad_request", "malformed HTTP request");
  });

  return server;
}
