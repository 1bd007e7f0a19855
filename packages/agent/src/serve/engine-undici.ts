import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { createRequire } from "node:module";
import type { Dispatcher, Pool as PoolType } from "undici";
import { failUpstream, type ForwardEngine, type ForwardTarget, type Target } from "./engine.js";
import { reframeRequest, responseHeaders } from "./headers.js";
import { UndiciRequestBody } from "./undici-body.js";

/**
 * ForwardEngine on undici (Node's maintained HTTP/1.1 client), one Pool per upstream address.
 * Same contract and conformance suite as the http-proxy engine; what differs is how bytes move:
 *  - responses go through `pool.dispatch` with a handler that writes each chunk to the client and
 *    pauses the upstream parser (and so the upstream socket) whenever the client's socket is full,
 *    resuming on 'drain': a slow client holds a bounded amount of memory, not the whole response.
 *  - request bodies stream upstream as an async iterable (undici-body.ts), so a chunked request
 *    leaves chunked and a Content-Length request leaves with that length; nothing is buffered and
 *    nothing is re-framed (no smuggling of a chunked DELETE/OPTIONS body).
 *  - hop-by-hop headers are stripped with the same helpers (headers.ts) in both directions; Host
 *    and the forwarding headers the proxy server set are passed through as they are.
 * What undici cannot do, or does not do the same way, goes to `fallback` (an http-proxy engine):
 * WebSocket upgrades, and requests whose Transfer-Encoding names a coding besides `chunked`
 * (undici always declares a body it streams as plain `chunked`, which would drop the coding).
 *
 * Connection policy. undici's Pool `connections` is a hard cap on concurrent requests per target
 * (requests beyond it queue), whereas a pool's `keepalive` is the number of *idle* connections to
 * keep, as with nginx and the http-proxy engine. So concurrency is left unbounded and `keepalive`
 * is applied per request: a request that finds `keepalive` others already in flight to the same
 * target is an overflow request and its connection closes after use (`reset`); keepalive 0 means
 * every request closes its connection. Pipelining stays off (one request per connection at a time).
 *
 * Nothing here throws into the event loop: every undici callback is either guarded by undici
 * itself (response start/data/end) or by a try/catch here (errors, dispatch).
 */

export interface UndiciEngineOptions {
  /** Longest an upstream may stay silent (connect, response headers, or mid-body) before a 504. */
  upstreamTimeoutMs: number;
  log?: Logger;
  /** Takes WebSocket upgrades and non-chunked transfer codings; retained and closed with this engine. */
  fallback: ForwardEngine;
}

// Node's http.Server closes idle keep-alive connections after 5 s by default. Dropping ours after
// 4 s means an idle socket is never picked for a request at the moment the upstream closes it.
// The same value caps a longer Keep-Alive hint from the upstream; a shorter hint (minus undici's
// 1 s margin) is honoured.
const IDLE_SOCKET_MS = 4000;

const TIMEOUT_CODES: ReadonlySet<string> = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** One Pool per Target.key, with the number of requests it is serving right now. */
interface Upstream {
  readonly pool: PoolType;
  inflight: number;
}

const noop = () => undefined;

// Only the connection pool, not undici's index: the index also loads fetch, WebSocket, caching and
// the rest of the package, about 10 MB of RSS the agent never uses. undici 7 publishes no exports
// map, so this path is reachable; the dependency is pinned to 7.x and the conformance suite runs
// against whatever this resolves to.
const Pool = createRequire(import.meta.url)("undici/lib/dispatcher/pool.js") as typeof PoolType;

export function createUndiciEngine(opts: UndiciEngineOptions): ForwardEngine {
  const { upstreamTimeoutMs, log, fallback } = opts;
  const upstreams = new Map<string, Upstream>();

  function upstreamFor(t: Target): Upstream {
    let up = upstreams.get(t.key);
    if (!up) {
      const origin = t.kind === "unix" ? "http://localhost" : `http://${t.key}`;
      const pool = new Pool(origin, {
        ...(t.kind === "unix" ? { socketPath: t.path } : {}),
        // No cap on concurrent connections: see "Connection policy" above.
        connections: null,
        pipelining: 1,
        keepAliveTimeout: IDLE_SOCKET_MS,
        keepAliveMaxTimeout: IDLE_SOCKET_MS,
        connectTimeout: upstreamTimeoutMs,
        headersTimeout: upstreamTimeoutMs,
        bodyTimeout: upstreamTimeoutMs,
      });
      up = { pool, inflight: 0 };
      upstreams.set(t.key, up);
    }
    return up;
  }

  return {
    forward(req, res, target) {
      const framing = reframeRequest(req.headers);
      if (framing === "fallback") {
        fallback.forward(req, res, target);
        return;
      }
      // undici frames the body itself (chunked for a body without a length) and refuses the field.
      delete req.headers["transfer-encoding"];
      const length = req.headers["content-length"];
      const hasBody = framing === "chunked" || (length !== undefined && Number(length) !== 0);
      const body = hasBody ? new UndiciRequestBody(req) : undefined;

      const up = upstreamFor(target.address);
      const reset = target.keepalive <= 0 || up.inflight >= target.keepalive;
      up.inflight++;
      const flight = new Flight(res, target.upstreamLabel, up, body, log);
      res.once("close", flight.onClientClose);
      try {
        up.pool.dispatch(
          {
            path: req.url ?? "/",
            method: req.method ?? "GET",
            headers: req.headers,
            // undici streams any async iterable; its types only list the body kinds it can size.
            body: (body ?? null) as Readable | null,
            ...(reset ? { reset: true } : {}),
          },
          flight,
        );
      } catch (err) {
        flight.onResponseError(undefined, err instanceof Error ? err : new Error(String(err)));
      }
    },

    upgrade(req, socket, head, target) {
      fallback.upgrade(req, socket, head, target);
    },

    retain(keys) {
      for (const [key, up] of upstreams) {
        if (keys.has(key)) continue;
        upstreams.delete(key);
        // Graceful: idle connections close now, busy ones once their response is done.
        up.pool.close().catch(noop);
      }
      fallback.retain(keys);
    },

    close() {
      for (const up of upstreams.values()) up.pool.destroy().catch(noop);
      upstreams.clear();
      fallback.close();
    },
  };
}

/** One proxied request: the undici dispatch handler, tied to the client's response. */
class Flight implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private clientGone = false;
  private settled = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly label: string,
    private readonly up: Upstream,
    private readonly body: UndiciRequestBody | undefined,
    private readonly log: Logger | undefined,
  ) {}

  /** The client went away (or its response was destroyed) before the response was complete. */
  readonly onClientClose = (): void => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.body?.release();
    // Before the request is on a socket there is nothing to abort yet: onRequestStart does it.
    this.controller?.abort(new Error("client went away"));
  };

  private readonly onDrain = (): void => {
    this.controller?.resume();
  };

  /** Exactly once per request, whichever way it ends. */
  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.up.inflight--;
    this.body?.release();
    this.res.off("drain", this.onDrain);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new Error("client went away"));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    // 1xx informational responses are not passed on (as with the http-proxy engine).
    if (statusCode < 200) return;
    const res = this.res;
    if (this.clientGone || res.headersSent) {
      controller.abort(new Error("response no longer wanted"));
      return;
    }
    try {
      res.writeHead(statusCode, statusMessage || undefined, responseHeaders(rawHeaderStrings(controller.rawHeaders), headers.connection));
    } catch (err) {
      // Node refused a status line or header the upstream sent: the upstream is at fault. Undo
      // what writeHead kept before throwing, so the 502 goes out with its own reason phrase.
      res.statusMessage = "";
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      controller.abort(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    res.on("drain", this.onDrain);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.clientGone || this.res.writableEnded) return;
    // Backpressure: stop reading the upstream until the client's socket drains.
    if (!this.res.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.settle();
    if (!this.clientGone && !this.res.writableEnded) this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    try {
      this.settle();
      const res = this.res;
      if (this.clientGone || res.destroyed || res.writableEnded) {
        this.log?.debug({ upstream: this.label, err: err.message }, "upstream request ended after the client left");
        return;
      }
      failUpstream(res, TIMEOUT_CODES.has((err as { code?: string }).code ?? "") ? 504 : 502, this.label, err, this.log);
    } catch (e) {
      this.log?.error({ upstream: this.label, err: e instanceof Error ? e.message : String(e) }, "could not report an upstream failure");
      this.res.destroy();
    }
  }
}

/** undici hands raw headers over as Buffers; Node's parser reads them as latin1, and so does this. */
function rawHeaderStrings(raw: Dispatcher.DispatchController["rawHeaders"]): string[] {
  if (!Array.isArray(raw)) return [];
  const out: string[] = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i] as Buffer | string;
    out[i] = typeof v === "string" ? v : v.toString("latin1");
  }
  return out;
}
