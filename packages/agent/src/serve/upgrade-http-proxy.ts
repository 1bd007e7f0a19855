import type { ClientRequest, IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import HttpProxy from "http-proxy";
import type { Logger } from "pino";
import type { ForwardedFields } from "./headers.js";
import type { PassRequest } from "./passes.js";
import { sendSocketError, upstreamFailure } from "./replies.js";
import type { ForwardTarget, Target } from "./table.js";

/**
 * WebSocket upgrades, and only those, through http-proxy 1.18.1: the handshake is forwarded, then
 * the two sockets are piped. The request's headers arrive already set by the passes (node-door.ts:
 * forwarding fields, hop-by-hop fields dropped, the handshake's own re-declared). Plain HTTP never
 * comes here: the library's web passes have defects the h1 exchange does not (proxy-defects.test.ts).
 *
 * Errors never reach http-proxy's emitter: every call passes a callback, without which the library
 * rethrows and takes the process down. The upstream timeout bounds the handshake only: an idle
 * WebSocket stays open.
 */

export interface WebSocketUpgrades {
  /** Proxies a handshake the door has vetted; owns `socket` from here on. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget): void;
  close(): void;
}

/** Per-handshake state the library's global events need to reach. */
interface Handshake {
  upstream?: ClientRequest;
  clientGone: boolean;
  timedOut: boolean;
  upgraded: boolean;
}

export function createWebSocketUpgrades(opts: { upstreamTimeoutMs: number; log?: Logger }): WebSocketUpgrades {
  const { upstreamTimeoutMs, log } = opts;
  const handshakes = new WeakMap<IncomingMessage, Handshake>();
  const proxy = HttpProxy.createProxyServer({ xfwd: false, changeOrigin: false, prependPath: false });
  // Unreachable with a callback on every call; present so a stray emit is logged, not rethrown.
  proxy.on("error", (err) => log?.error({ err: err.message }, "unhandled http-proxy error"));

  proxy.on("proxyReqWs", (upstream, req, socket) => {
    const h = handshakes.get(req);
    if (!h) return;
    h.upstream = upstream;
    upstream.setTimeout(upstreamTimeoutMs, () => {
      h.timedOut = true;
      upstream.destroy(new Error(`upstream did not answer within ${upstreamTimeoutMs} ms`));
    });
    upstream.on("upgrade", (_res: IncomingMessage, upstreamSocket: Socket) => {
      h.upgraded = true;
      // http-proxy only half-closes (ends) one socket when the other ends or errors, and a client
      // that never closes its side would then stay open for good: their lifetimes are tied here.
      upstreamSocket.once("close", () => socket.destroy());
      socket.once("close", () => upstreamSocket.destroy());
    });
  });

  return {
    upgrade(req, socket, head, target) {
      const h: Handshake = { clientGone: false, timedOut: false, upgraded: false };
      handshakes.set(req, h);
      socket.on("error", (err) => log?.debug({ err: err.message }, "websocket client socket error"));
      socket.once("close", () => {
        h.clientGone = true;
        if (!h.upgraded) h.upstream?.destroy();
      });
      // agent false: an upgraded connection leaves HTTP for good and is never returned to a pool.
      proxy.ws(req, socket, head, { target: proxyTarget(target.address), agent: false }, (err) => {
        log?.warn({ upstream: target.upstreamLabel, address: target.address.key, err: err.message, upgraded: h.upgraded }, "websocket upstream failed");
        if (h.upgraded || h.clientGone) socket.destroy();
        else sendSocketError(socket, upstreamFailure(h.timedOut ? 504 : 502, target.pool));
      });
    },
    close() {
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

/**
 * The request's fields as they leave through the passes (passes.ts), as the headers object http-proxy
 * sends, with the handshake's own fields re-declared for the next hop; repeats stay separate lines.
 */
export function handshakeHeaders(r: PassRequest): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  const f = r.fields;
  for (let i = 0; i + 1 < f.length; i += 2) {
    const name = (f[i] as string).toLowerCase();
    if (name === "") continue;
    const v = f[i + 1] as string;
    const had = out[name];
    out[name] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  const fw = r.forwarded as ForwardedFields;
  out["x-forwarded-for"] = fw.forwardedFor;
  out["x-real-ip"] = fw.realIp;
  out["x-forwarded-proto"] = fw.proto;
  if (fw.host !== undefined) out["x-forwarded-host"] = fw.host;
  out["x-request-id"] = r.requestId;
  out.connection = "upgrade";
  out.upgrade = "websocket";
  return out;
}
