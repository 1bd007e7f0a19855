import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { failUpstream, type ForwardEngine, type ForwardTarget } from "./engine.js";
import { responseHeaders, stripRequestHopByHop } from "./headers.js";
import type { ResponseHead } from "./h1/response-parser.js";
import { Conn, IDLE_SOCKET_MS, UpstreamPool, type Exchange } from "./h1/upstream-pool.js";

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
}

const ONLY_CHUNKED = /^\s*chunked\s*$/i;
const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
const enum Body { None, Fixed, Chunked }
const FLIGHT = Symbol("h1 flight");
const noop = () => undefined;

type WithFlight = ServerResponse & { [FLIGHT]?: Flight };

// One listener function for every response; the exchange rides on the response object.
function onResponseClose(this: WithFlight): void {
  this[FLIGHT]?.onClientClose();
}

export function createH1Engine(opts: H1EngineOptions): ForwardEngine {
  const { upstreamTimeoutMs, log, fallback } = opts;
  const pools = new Map<string, UpstreamPool>();

  return {
    forward(req, res, target) {
      const coding = req.headers["transfer-encoding"];
      if (coding !== undefined && !ONLY_CHUNKED.test(coding)) {
        fallback.forward(req, res, target);
        return;
      }
      stripRequestHopByHop(req.headers, false);
      // Node answered any `Expect: 100-continue` already; the upstream gets the body straight away.
      delete req.headers.expect;
      const length = req.headers["content-length"];
      const body = coding !== undefined ? Body.Chunked : length !== undefined && length !== "0" ? Body.Fixed : Body.None;
      let pool = pools.get(target.address.key);
      if (pool === undefined) {
        pool = new UpstreamPool(target.address, upstreamTimeoutMs);
        pools.set(target.address.key, pool);
      }
      new Flight(req, res as WithFlight, target, pool, body, log).start(false);
    },

    upgrade(req, socket, head, target) {
      fallback.upgrade(req, socket, head, target);
    },

    retain(keys) {
      for (const [key, pool] of pools) {
        if (keys.has(key)) continue;
        pools.delete(key);
        pool.retire();
      }
      fallback.retain(keys);
    },

    close() {
      for (const pool of pools.values()) pool.destroy();
      pools.clear();
      fallback.close();
    },
  };
}

/** The request line and headers, as Node parsed them (latin1, so the bytes go out unchanged). */
function requestHead(req: IncomingMessage, target: ForwardTarget): string {
  const h = req.headers;
  let head = `${req.method ?? "GET"} ${req.url ?? "/"} HTTP/1.1\r\n`;
  if (h.host === undefined) head += `host: ${target.address.kind === "unix" ? "localhost" : target.address.key}\r\n`;
  for (const name in h) {
    const v = h[name];
    if (v === undefined) continue;
    if (typeof v === "string") head += `${name}: ${v}\r\n`;
    else for (const one of v) head += `${name}: ${one}\r\n`;
  }
  if (target.keepalive <= 0) head += "connection: close\r\n";
  return `${head}\r\n`;
}

/** One proxied request: an exchange on an upstream connection, tied to the client's response. */
class Flight implements Exchange {
  private conn: Conn | undefined;
  private readonly head: string;
  private settled = false;
  private clientGone = false;
  private retried = false;
  private bodyDone: boolean;
  /** The request body is paused because the upstream socket is full. */
  private uploadPaused = false;
  /** The upstream socket is paused because the client's socket is full. */
  private downloadPaused = false;
  private ended = false;
  private keepAlive = false;
  private idleHintMs: number | undefined;
  private requestListeners: { data: (chunk: Buffer) => void; end: () => void } | undefined;
  private clientDrain: (() => void) | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: WithFlight,
    private readonly target: ForwardTarget,
    private readonly pool: UpstreamPool,
    private readonly body: Body,
    private readonly log: Logger | undefined,
  ) {
    this.head = requestHead(req, target);
    this.bodyDone = body === Body.None;
    res[FLIGHT] = this;
    res.on("close", onResponseClose);
  }

  start(fresh: boolean): void {
    const conn = this.pool.acquire(fresh);
    this.conn = conn;
    conn.exchange = this;
    conn.parser.start(this, this.req.method === "HEAD");
    conn.socket.write(this.head, "latin1");
    if (this.body !== Body.None) {
      const req = this.req;
      req.on("error", noop);
      // Listeners are made only for requests with a body: most requests allocate none of them.
      const listeners = (this.requestListeners ??= { data: (c: Buffer) => this.onRequestData(c), end: () => this.onRequestEnd() });
      req.on("data", listeners.data);
      req.once("end", listeners.end);
    }
  }

  // --- request body -------------------------------------------------------------------------

  private onRequestData(chunk: Buffer): void {
    const socket = this.conn?.socket;
    // An empty chunk would read as the chunked terminator upstream.
    if (socket === undefined || chunk.length === 0) return;
    let ok: boolean;
    if (this.body === Body.Chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
      socket.write(chunk);
      ok = socket.write("\r\n", "latin1");
      socket.uncork();
    } else {
      ok = socket.write(chunk);
    }
    if (!ok) {
      this.uploadPaused = true;
      this.req.pause();
    }
  }

  private onRequestEnd(): void {
    this.bodyDone = true;
    if (this.requestListeners) this.req.off("data", this.requestListeners.data);
    if (this.body === Body.Chunked) this.conn?.socket.write("0\r\n\r\n", "latin1");
  }

  onConnDrain(): void {
    if (!this.uploadPaused) return;
    this.uploadPaused = false;
    if (!this.settled) this.req.resume();
  }

  /**
   * The exchange is over with the body maybe not all read: stop forwarding it and let the rest
   * drain and be discarded, as Node does with a body nobody read, so the client connection stays
   * usable for its next request. The no-op error listener stays for a client that aborts later.
   */
  private releaseBody(): void {
    if (this.bodyDone) return;
    if (this.requestListeners) {
      this.req.off("data", this.requestListeners.data);
      this.req.off("end", this.requestListeners.end);
    }
    if (!this.req.destroyed) this.req.resume();
  }

  waitingOnClient(): boolean {
    return this.downloadPaused || (!this.bodyDone && !this.uploadPaused);
  }

  // --- response -----------------------------------------------------------------------------

  onHead(head: ResponseHead): void {
    const res = this.res;
    this.keepAlive = head.keepAlive;
    this.idleHintMs = head.idleHintMs;
    try {
      res.writeHead(head.status, head.reason || undefined, responseHeaders(head.rawHeaders, head.connection));
    } catch (err) {
      // Node refused a status line or header the upstream sent: the upstream is at fault. Undo what
      // writeHead kept before throwing, so the 502 goes out with its own reason phrase.
      res.statusMessage = "";
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      this.giveUp();
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
    }
  }

  onBody(chunk: Buffer, last: boolean): void {
    const res = this.res;
    if (last) {
      this.ended = true;
      res.end(chunk);
      return;
    }
    if (!res.write(chunk) && !this.downloadPaused && !res.destroyed) {
      this.downloadPaused = true;
      this.conn?.socket.pause();
      res.once("drain", (this.clientDrain ??= () => this.onClientDrain()));
    }
  }

  private onClientDrain(): void {
    this.downloadPaused = false;
    const socket = this.conn?.socket;
    if (socket === undefined || this.settled) return;
    // The inactivity timer may have fired (and been ignored) while paused; it only re-arms on activity.
    socket.setTimeout(this.pool.timeoutMs);
    socket.resume();
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    if (!this.ended) this.res.end();
    const conn = this.conn;
    this.conn = undefined;
    this.releaseBody();
    if (conn === undefined) return;
    // The last bytes may have filled the client's socket: they are Node's to flush now, and the
    // connection, done with this response, must not go idle paused.
    if (this.downloadPaused) {
      this.downloadPaused = false;
      if (this.clientDrain) this.res.off("drain", this.clientDrain);
      conn.socket.resume();
    }
    const reusable = this.keepAlive && this.bodyDone;
    const hint = this.idleHintMs;
    const idleMs = hint === undefined ? IDLE_SOCKET_MS : Math.min(IDLE_SOCKET_MS, hint - 1000);
    this.pool.release(conn, reusable, this.target.keepalive, idleMs);
  }

  onConnFailure(err: Error, timedOut: boolean): void {
    if (this.settled) return;
    const conn = this.conn;
    if (
      conn !== undefined && conn.reused && !timedOut && !conn.parser.started && !this.retried && this.body === Body.None &&
      !this.clientGone && !this.pool.destroyed && IDEMPOTENT.has(this.req.method ?? "")
    ) {
      this.retried = true;
      this.log?.debug({ upstream: this.target.upstreamLabel, err: err.message }, "reused upstream connection was closed; retrying on a new one");
      try {
        this.start(true);
      } catch (e) {
        // Called from a socket event: nothing may escape into the event loop.
        this.fail(e instanceof Error ? e : new Error(String(e)), false);
      }
      return;
    }
    this.fail(err, timedOut);
  }

  private fail(err: Error, timedOut: boolean): void {
    this.settled = true;
    this.conn = undefined;
    this.releaseBody();
    const res = this.res;
    if (this.clientGone || res.destroyed || res.writableEnded) {
      this.log?.debug({ upstream: this.target.upstreamLabel, err: err.message }, "upstream request ended after the client left");
      return;
    }
    try {
      failUpstream(res, timedOut ? 504 : 502, this.target.upstreamLabel, err, this.log);
    } catch (e) {
      this.log?.error({ upstream: this.target.upstreamLabel, err: e instanceof Error ? e.message : String(e) }, "could not report an upstream failure");
      res.destroy();
    }
  }

  /** Drops the connection from under the exchange: it is mid-response and cannot be reused. */
  private giveUp(): void {
    const conn = this.conn;
    this.conn = undefined;
    conn?.abandon();
  }

  /** The client went away (or its response was destroyed) before the response was complete. */
  onClientClose(): void {
    this.res[FLIGHT] = undefined;
    if (this.settled || this.res.writableFinished) return;
    this.clientGone = true;
    this.settled = true;
    this.releaseBody();
    this.giveUp();
  }
}
