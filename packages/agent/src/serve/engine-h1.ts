import type { Logger } from "pino";
import type { ForwardEngine, ForwardTarget } from "./engine.js";
import { reframeRequest } from "./headers.js";
import { Flight, type Body } from "./h1/flight.js";
import { UpstreamPool } from "./h1/upstream-pool.js";

/**
 * ForwardEngine with its own HTTP/1.1 upstream client: requests are written straight onto pooled
 * sockets and responses read by a strict incremental parser (h1/response-parser.ts). It exists for
 * CPU per request: undici's client alone costs about twice what nginx spends on a whole proxied
 * request (BENCHMARKS.md); this path does the same syscalls with far less JavaScript around them.
 *
 * Same contract and conformance suite as the other engines:
 *  - the request leaves as it came: method, target, headers minus hop-by-hop, Host kept; a chunked
 *    body leaves chunked (re-chunked chunk for chunk), a Content-Length body with its length.
 *  - backpressure both ways: a full client socket pauses the upstream socket; a full upstream socket
 *    pauses the client's request body. A paused exchange is not timed out; only upstream silence is.
 *  - 502 for a refused, broken or unparsable upstream and 504 for upstream silence, as JSON while the
 *    status line is still ours; after that the client connection is cut and the failure noted.
 *  - a request with no body, on a reused connection the upstream closed before sending a byte of
 *    the response, is retried once on a new connection when its method is idempotent (the
 *    keep-alive race every pooled client meets).
 * WebSocket upgrades and request bodies with a transfer coding besides chunked go to `fallback`.
 */

export interface H1EngineOptions {
  /** Longest an upstream may stay silent (connect, response head, or mid-body) before a 504. */
  upstreamTimeoutMs: number;
  log?: Logger;
  /** Takes WebSocket upgrades and non-chunked transfer codings; retained and closed with this engine. */
  fallback: ForwardEngine;
  /**
   * A client that stops reading a response may hold its upstream connection this long before both
   * are closed (nginx's send_timeout has the same default). Checked once per upstream timeout
   * period, so the cut comes within one period after it.
   */
  clientSendTimeoutMs?: number;
}

const CLIENT_SEND_TIMEOUT_MS = 60_000;

/** The h1 engine also lends its pools to the proxy server's fast path (front/fast-path.ts). */
export type H1Engine = ForwardEngine & { pool(target: ForwardTarget): UpstreamPool; readonly clientSendTimeoutMs: number };

export function createH1Engine(opts: H1EngineOptions): H1Engine {
  const { upstreamTimeoutMs, log, fallback } = opts;
  const clientSendTimeoutMs = opts.clientSendTimeoutMs ?? CLIENT_SEND_TIMEOUT_MS;
  const pools = new Map<string, UpstreamPool>();
  // Pools of targets no longer in the table that still carry requests: close() must cut those too.
  const retiring = new Set<UpstreamPool>();
  const pool = (target: ForwardTarget): UpstreamPool => {
    let p = pools.get(target.address.key);
    if (p === undefined) {
      p = new UpstreamPool(target.address, upstreamTimeoutMs);
      pools.set(target.address.key, p);
    }
    return p;
  };

  return {
    forward(req, res, target) {
      const framing = reframeRequest(req.headers);
      if (framing === "fallback") {
        fallback.forward(req, res, target);
        return;
      }
      const length = req.headers["content-length"];
      const body: Body = framing === "chunked" ? "chunked" : length !== undefined && length !== "0" ? "fixed" : "none";
      new Flight(req, res, target, pool(target), body, log, clientSendTimeoutMs).start(false);
    },

    pool,
    clientSendTimeoutMs,

    upgrade(req, socket, head, target) {
      fallback.upgrade(req, socket, head, target);
    },

    retain(keys) {
      for (const pool of retiring) if (pool.open === 0) retiring.delete(pool);
      for (const [key, pool] of pools) {
        if (keys.has(key)) continue;
        pools.delete(key);
        pool.retire();
        if (pool.open > 0) retiring.add(pool);
      }
      fallback.retain(keys);
    },

    close() {
      for (const pool of pools.values()) pool.destroy();
      for (const pool of retiring) pool.destroy();
      pools.clear();
      retiring.clear();
      fallback.close();
    },
  };
}
