import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { pipeline } from "node:stream";
import HttpProxy from "http-proxy";
import type { Logger } from "pino";
import {
  failUpstream, noteFailure, sendSocketError, type ForwardEngine, type ForwardTarget, type Target,
} from "./engine.js";
import { responseHeaders, stripRequestHopByHop } from "./headers.js";

/**
 * ForwardEngine on http-proxy 1.18.1, with its known defects worked around (each has a test in
 * proxy-defects.test.ts showing the bare library misbehaving, and one in proxy-conformance.ts
 * showing this engine does not):
 *  (a) its `deleteLength` pass turns a chunked DELETE/OPTIONS into `Content-Length: 0` and leaves
 *      the body on the wire as a smuggled second request: the pass is removed.
 *  (b) it aborts the upstream request only on the request's 'aborted' event, which Node does not
 *      emit once the request body has been read, so a client that hangs up while waiting leaves
 *      the upstream socket open until the upstream answers: the response's 'close' does it here.
 *  (c) it forwards hop-by-hop headers both ways: requests are stripped before they are handed over
 *      and responses are written here (selfHandleResponse) from a filtered header list.
 *  (d) its xfwd option appends to whatever X-Forwarded-For a client sent: xfwd stays off and the
 *      proxy server sets forwarding headers itself (headers.ts).
 * Errors never reach http-proxy's emitter: every call passes a callback, without which the library
 * rethrows and takes the process down.
 */

export interface HttpProxyEngineOptions {
  /** Longest an upstream may stay silent (connect, response headers, or mid-body) before a 504. */
  upstreamTimeoutMs: number;
  log?: Logger;
}

// Node's http.Server closes idle keep-alive connections after 5 s by default. Dropping ours after
// 4 s means an idle socket is never picked for a request at the moment the upstream closes it,
// which would fail that request with ECONNRESET.
const IDLE_SOCKET_MS = 4000;

interface Pooled {
  agent: Agent;
  target: HttpProxy.ProxyTarget;
}

/** Per-request state the library's global events need to reach. */
interface Flight {
  upstream?: ClientRequest;
  clientGone: boolean;
  timedOut: boolean;
  upgraded: boolean;
  label: string;
}

type Pass = (...args: unknown[]) => unknown;

export function createHttpProxyEngine(opts: HttpProxyEngineOptions): ForwardEngine {
  const { upstreamTimeoutMs, log } = opts;
  const flights = new WeakMap<IncomingMessage, Flight>();
  // address key -> keepalive -> agent: pools sharing an address but not a keepalive stay apart.
  const agents = new Map<string, Map<number, Pooled>>();

  const proxy = HttpProxy.createProxyServer({ xfwd: false, changeOrigin: false, selfHandleResponse: true, prependPath: false });
  const passes = (proxy as unknown as { webPasses: Pass[] }).webPasses;
  const deleteLength = passes.findIndex((p) => p.name === "deleteLength");
  if (deleteLength < 0) throw new Error("http-proxy no longer has a deleteLength pass; re-check the smuggling workaround");
  passes.splice(deleteLength, 1);
  // Unreachable with a callback on every call; present so a stray emit is logged, not rethrown.
  proxy.on("error", (err) => log?.error({ err: err.message }, "unhandled http-proxy error"));

  const armTimeout = (upstream: ClientRequest, flight: Flight) => {
    upstream.setTimeout(upstreamTimeoutMs, () => {
      flight.timedOut = true;
      upstream.destroy(new Error(`upstream did not answer within ${upstreamTimeoutMs} ms`));
    });
  };

  // Emitted when the upstream request gets a socket. The client may already be gone by then.
  proxy.on("proxyReq", (upstream, req) => {
    const flight = flights.get(req);
    if (!flight) return;
    flight.upstream = upstream;
    if (flight.clientGone) upstream.destroy();
    else armTimeout(upstream, flight);
  });

  proxy.on("proxyReqWs", (upstream, req, socket) => {
    const flight = flights.get(req);
    if (!flight) return;
    flight.upstream = upstream;
    armTimeout(upstream, flight);
    upstream.on("upgrade", (_res: IncomingMessage, upstreamSocket: Socket) => {
      flight.upgraded = true;
      // http-proxy only half-closes (ends) one socket when the other ends or errors, and a client
      // that never closes its side would then stay open for good: their lifetimes are tied here.
      upstreamSocket.once("close", () => socket.destroy());
      socket.once("close", () => upstreamSocket.destroy());
    });
  });

  proxy.on("proxyRes", (upstreamRes, req, res) => {
    const flight = flights.get(req);
    if (res.headersSent) {
      upstreamRes.destroy();
      return;
    }
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, responseHeaders(upstreamRes.rawHeaders, upstreamRes.headers.connection));
    // pipeline destroys the other side when either fails: a client that goes away releases the
    // upstream socket, an upstream that dies mid-body cuts the client (no status can say so now).
    pipeline(upstreamRes, res, (err) => {
      if (err && flight && !flight.clientGone) noteFailure(res, flight.timedOut ? 504 : 502);
    });
  });

  function pooled(t: Target, keepalive: number): Pooled {
    let byKeepalive = agents.get(t.key);
    if (!byKeepalive) agents.set(t.key, (byKeepalive = new Map()));
    let p = byKeepalive.get(keepalive);
    if (!p) {
      // maxFreeSockets: 0 would be read by Node as "unset" (256), so keepalive 0 turns keep-alive off.
      const agent = keepalive > 0
        ? new Agent({ keepAlive: true, maxFreeSockets: keepalive, timeout: IDLE_SOCKET_MS, scheduling: "lifo" })
        : new Agent({ keepAlive: false });
      p = { agent, target: proxyTarget(t) };
      byKeepalive.set(keepalive, p);
    }
    return p;
  }

  function fail(res: ServerResponse, flight: Flight, err: Error): void {
    failUpstream(res, flight.timedOut ? 504 : 502, flight.label, err, log);
  }

  return {
    forward(req, res, target) {
      const flight: Flight = { clientGone: false, timedOut: false, upgraded: false, label: target.upstreamLabel };
      flights.set(req, flight);
      stripRequestHopByHop(req.headers, false);
      // Node answered any `Expect: 100-continue` already; asking the upstream again is redundant,
      // and http-proxy skips its proxyReq event (which arms the timeout and abort) when it is set.
      delete req.headers.expect;
      res.once("close", () => {
        if (res.writableFinished) return;
        flight.clientGone = true;
        flight.upstream?.destroy();
      });
      const { agent, target: options } = pooled(target.address, target.keepalive);
      proxy.web(req, res, { target: options, agent }, (err) => {
        if (flight.clientGone || res.destroyed) {
          flight.upstream?.destroy();
          return;
        }
        fail(res, flight, err);
      });
    },

    upgrade(req, socket, head, target) {
      const flight: Flight = { clientGone: false, timedOut: false, upgraded: false, label: target.upstreamLabel };
      flights.set(req, flight);
      socket.on("error", (err) => log?.debug({ err: err.message }, "websocket client socket error"));
      socket.once("close", () => {
        flight.clientGone = true;
        if (!flight.upgraded) flight.upstream?.destroy();
      });
      stripRequestHopByHop(req.headers, true);
      // agent false: an upgraded connection leaves HTTP for good and is never returned to a pool.
      proxy.ws(req, socket, head, { target: proxyTarget(target.address), agent: false }, (err) => {
        log?.warn({ upstream: flight.label, err: err.message, upgraded: flight.upgraded }, "websocket upstream failed");
        if (flight.upgraded || flight.clientGone) socket.destroy();
        else if (flight.timedOut) sendSocketError(socket, 504, "gateway_timeout", `upstream ${flight.label} did not answer in time`);
        else sendSocketError(socket, 502, "bad_gateway", `upstream ${flight.label} is unreachable or failed`);
      });
    },

    retain(keys) {
      for (const [key, byKeepalive] of agents) {
        if (keys.has(key)) continue;
        agents.delete(key);
        for (const { agent } of byKeepalive.values()) retire(agent);
      }
    },

    close() {
      for (const byKeepalive of agents.values()) for (const { agent } of byKeepalive.values()) agent.destroy();
      agents.clear();
      proxy.close();
    },
  };
}

/** The target as http-proxy takes it; a unix socket still needs a port, which Node ignores. */
function proxyTarget(t: Target): HttpProxy.ProxyTarget {
  return t.kind === "unix"
    ? { protocol: "http:", host: "localhost", port: 80, socketPath: t.path }
    : { protocol: "http:", host: t.host, hostname: t.host, port: t.port };
}

/** Closes an agent's idle sockets now and each busy one as soon as its response is done. */
function retire(agent: Agent): void {
  agent.keepSocketAlive = () => false;
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
}
