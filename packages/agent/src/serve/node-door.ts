import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { UpstreamExchange } from "./h1/exchange.js";
import { peerOf } from "./headers.js";
import { NodeSink, RequestUpload, failureOf } from "./node-sink.js";
import { newPassRequest, runPasses, upstreamHead, type PassEnv, type PassRequest, type ResultReporter } from "./passes.js";
import { sendError, sendSocketError, upstreamFailure } from "./replies.js";
import type { ForwardTarget } from "./table.js";
import { handshakeHeaders } from "./upgrade-http-proxy.js";
import type { Upstreams } from "./upstreams.js";

/**
 * Node's HTTP server as the edge's second front door: every request the fast path leaves to it
 * (bodies, WebSocket, HTTP/1.0, odd heads), or all of them with AGENT_FAST_PATH=off. Request ->
 * passes -> the upstream exchange with a NodeSink; WebSocket handshakes go to http-proxy.
 * front/listener.ts makes it and puts the fast path in front; it never listens by itself.
 *
 * Invariants: the table is read once per request (by the resolve pass); every request ends in a
 * response or a closed socket, whatever the client or the upstream does; nothing here throws into
 * Node's event loop.
 */

export interface NodeDoorDeps {
  env: PassEnv;
  upstreams: Upstreams;
  log: Logger;
  /** See front/listener.ts ProxyServerDeps.onResult. */
  onResult: ResultReporter | undefined;
  /** AGENT_REVISION_HEADER, lowercased. */
  revisionHeader: string | undefined;
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

// Per-request bookkeeping rides on the objects themselves (one shape for every response and socket)
// rather than in per-request closures or a WeakSet: this runs on every request.
const LABEL = Symbol("switchyard upstream label");
const SOCKET = Symbol("switchyard socket");
const BUSY = Symbol("switchyard busy");
const CLOSING = Symbol("switchyard closing");
const REQUEST = Symbol("switchyard request");
type Tracked = ServerResponse & { [LABEL]: string; [SOCKET]: Client; [REQUEST]: PassRequest };
/**
 * A client socket: responses under way on it (more than one when the client pipelines), so a parse
 * error on a busy socket never writes a second status line; and whether a request on it has closed it.
 */
type Client = Socket & { [BUSY]?: number; [CLOSING]?: true };

/** The request as the passes read it: Node's parse, fields as received (a copy: the passes rewrite it). */
function passRequest(req: IncomingMessage, env: PassEnv): PassRequest {
  const r = newPassRequest(peerOf(req.socket, env.trusted));
  r.method = req.method ?? "GET";
  r.url = req.url ?? "";
  r.http10 = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
  r.fields = req.rawHeaders.slice();
  return r;
}

export function createNodeDoor(deps: NodeDoorDeps): Server {
  const { env, upstreams, log, onResult, revisionHeader } = deps;
  const stampOf = (r: PassRequest): readonly [string, string] | undefined =>
    revisionHeader !== undefined && r.revision >= 0 ? [revisionHeader, String(r.revision)] : undefined;

  /** The one close listener of every response: socket bookkeeping and, when asked for, the result report. */
  function onResponseClose(this: Tracked): void {
    this[SOCKET][BUSY] = (this[SOCKET][BUSY] ?? 1) - 1;
    if (!onResult) return;
    const status = failureOf(this) ?? (this.writableFinished ? this.statusCode : 499);
    try {
      onResult(this[LABEL], status, this[REQUEST]);
    } catch (err) {
      log.error({ err }, "onResult threw");
    }
  }

  // requireHostHeader off: a missing Host gets the passes' 400, the same answer as on the fast path.
  const server = createServer({ ...SERVER_TIMEOUTS, requireHostHeader: false }, (req, response) => {
    const socket: Client = req.socket;
    // After a request that closes the connection, nothing else on it is forwarded (RFC 9112 §9.6).
    // llhttp stops at `Connection: close` itself, but Node 20's reads `close<TAB>` as keep-alive.
    if (socket[CLOSING]) return;
    const res = response as Tracked;
    socket[BUSY] = (socket[BUSY] ?? 0) + 1;
    res[LABEL] = EDGE;
    res[SOCKET] = socket;
    const r = passRequest(req, env);
    res[REQUEST] = r;
    res.on("close", onResponseClose);

    const refusal = runPasses(r, env);
    if (r.close) {
      socket[CLOSING] = true;
      res.shouldKeepAlive = false;
    }
    const stamp = stampOf(r);
    if (refusal !== undefined) {
      // A request that arrived with two Hosts or an odd target may be framed oddly too: do not reuse.
      sendError(res, refusal, refusal.status === 400, stamp);
      return;
    }
    const target = r.target as ForwardTarget;
    res[LABEL] = target.upstreamLabel;
    const sink = new NodeSink(req, res, stamp, target.pool);
    const exchange = new UpstreamExchange(log, upstreams);
    sink.bind(exchange);
    const upload = r.chunked || r.length > 0 ? new RequestUpload(req, r.chunked) : undefined;
    try {
      exchange.begin(sink, target, upstreams.pool(target), upstreamHead(r), r.method, upload);
    } catch (err) {
      log.error({ err, upstream: target.upstreamLabel }, "forwarding threw");
      if (!res.headersSent) sendError(res, upstreamFailure(502, target.pool), false, stamp);
      else res.destroy();
    }
  });
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveTimeout;

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", (err) => log.debug({ err: err.message }, "upgrade socket error"));
    const upgrade = req.headers.upgrade;
    if (req.method !== "GET" || typeof upgrade !== "string" || upgrade.trim().toLowerCase() !== "websocket") {
      sendSocketError(socket, { status: 400, error: "bad_request", message: "only WebSocket upgrades (GET with Upgrade: websocket) are proxied" });
      return;
    }
    const r = passRequest(req, env);
    const refusal = runPasses(r, env);
    if (refusal !== undefined) {
      sendSocketError(socket, refusal);
      return;
    }
    const target = r.target as ForwardTarget;
    try {
      req.headers = handshakeHeaders(r);
      upstreams.upgrade(req, socket, head, target);
    } catch (err) {
      log.error({ err, upstream: target.upstreamLabel }, "upgrade threw");
      sendSocketError(socket, upstreamFailure(502, target.pool));
    }
  });

  // Replaces Node's default handler, which would answer the same way but without the JSON body.
  // Also where socket errors of HTTP connections land, so none of them is ever unhandled.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? "";
    const busy = ((socket as Client)[BUSY] ?? 0) > 0;
    // Bytes after a request that said Connection: close: that request's response still goes out,
    // with Connection: close, and Node closes the socket after it; the bytes are never read.
    if (code === "HPE_CLOSED_CONNECTION" && busy) return;
    if (code === "ECONNRESET" || code === "EPIPE" || !socket.writable || busy) {
      socket.destroy();
      return;
    }
    log.debug({ code }, "unparsable request");
    if (code === "ERR_HTTP_REQUEST_TIMEOUT") sendSocketError(socket, { status: 408, error: "request_timeout", message: "the request was not received in time" });
    else if (code === "HPE_HEADER_OVERFLOW") sendSocketError(socket, { status: 431, error: "headers_too_large", message: "request headers are too large" });
    else sendSocketError(socket, { status: 400, error: "bad_request", message: "malformed HTTP request" });
  });

  return server;
}
