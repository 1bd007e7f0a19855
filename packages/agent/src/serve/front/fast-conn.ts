import type { BlockList, Socket } from "node:net";
import type { Logger } from "pino";
import { normalizeHost } from "@switchyard/shared";
import type { ForwardTarget } from "../engine.js";
import { forwardedFields, peerOf } from "../headers.js";
import { MAX_HEAD_BYTES } from "../h1/response-parser.js";
import { CRLFCRLF } from "../h1/syntax.js";
import type { UpstreamPool } from "../h1/upstream-pool.js";
import type { RouteTable } from "../table.js";
import { FastExchange, type ClientSide, type ExchangeDeps } from "./fast-exchange.js";
import { readRequestHead, upstreamRequestHead, type FastRequest } from "./request-head.js";

/**
 * One client connection on the fast path (fast-path.ts): request heads read straight off the
 * socket and forwarded by a FastExchange on the h1 engine's pooled upstream connections, responses
 * written straight back. It skips Node's IncomingMessage/ServerResponse machinery, which alone
 * costs about what nginx spends on a whole proxied request (BENCHMARKS.md).
 *
 * Invariants:
 *  - one request at a time: a pipelined request waits, unread, until the response before it is
 *    out and the client has read what it was sent (else reading stops, as in Node's server);
 *  - anything this path does not handle (readRequestHead's subset, a head split across reads, no
 *    route or no table yet) goes to Node's HTTP server with the unread bytes, between two requests,
 *    and the connection stays there: Node answers it exactly as it would have from the start;
 *  - every request ends in a complete response, a 502/504 while the status line is still ours, or
 *    a closed connection, and is reported once through onResult.
 */

export interface FastDeps extends ExchangeDeps {
  getTable(): RouteTable | undefined;
  pool(target: ForwardTarget): UpstreamPool;
  trusted: BlockList;
  /** Gives the socket, with `unread` put back in front, to Node's HTTP server for good. */
  handoff(socket: Socket, unread: Buffer | undefined): void;
  /** The server stopped accepting (a drain): responses go out with `Connection: close`. */
  draining(): boolean;
  keepAliveTimeoutMs: number;
  forget(conn: FastConn): void;
}

export class FastConn implements ClientSide {
  gone = false;
  private unread: Buffer | undefined;
  private readonly exchange: FastExchange;
  /** Responses already written wait for the client to read them: no next request until 'drain'. */
  private blocked = false;
  /** When the client stopped reading with no exchange under way (0: it has not). */
  private stalledAt = 0;
  private clientEnded = false;
  private readonly listeners: readonly [string, (chunk: Buffer) => void][];

  constructor(
    readonly socket: Socket,
    private readonly deps: FastDeps,
  ) {
    this.exchange = new FastExchange(this, deps);
    this.listeners = [
      ["data", this.onData],
      ["end", this.onEnd],
      ["close", this.onClose],
      ["error", this.onError],
      ["drain", this.onClientDrain],
      ["timeout", this.onTimeout],
    ];
    for (const [event, fn] of this.listeners) socket.on(event, fn);
    socket.setTimeout(deps.keepAliveTimeoutMs);
  }

  /** Closes the connection if no request is under way; says whether it did. */
  closeIfIdle(): boolean {
    if (this.exchange.active) return false;
    this.socket.destroy();
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  // No clientEnded here or in responded(): a half-close abandons the exchange under way (onEnd) and
  // next() starts none after it, so no response is ever written to a client that has ended.
  wantsClose(req: FastRequest): boolean {
    return req.close || this.deps.draining();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.unread = this.unread === undefined ? chunk : Buffer.concat([this.unread, chunk]);
    if (!this.exchange.active && !this.blocked) this.next();
    // Bytes beyond one head's worth while a response is under way or unread: stop reading until it is.
    else if (this.unread.length > MAX_HEAD_BYTES) this.socket.pause();
  };

  /** Starts the next request in `unread`, or hands the connection over; one exchange at a time. */
  private next(): void {
    const buf = this.unread;
    if (buf === undefined || this.exchange.active || this.blocked || this.gone || this.clientEnded) return;
    const end = buf.indexOf(CRLFCRLF);
    const req = end >= 0 && end <= MAX_HEAD_BYTES ? readRequestHead(buf.toString("latin1", 0, end)) : undefined;
    const resolution = req === undefined ? undefined : this.deps.getTable()?.resolve(normalizeHost(req.host), req.path);
    if (req === undefined || resolution === undefined || resolution.kind !== "target") {
      this.handoff();
      return;
    }
    this.unread = end + 4 === buf.length ? undefined : buf.subarray(end + 4);
    const target = resolution.forward;
    const fields = forwardedFields(peerOf(this.socket, this.deps.trusted), req.host, req.forwardedFor, req.forwardedProto, req.forwardedHost);
    this.exchange.begin(req, target, this.deps.pool(target), upstreamRequestHead(req, fields, target.keepalive));
  }

  private handoff(): void {
    for (const [event, fn] of this.listeners) this.socket.off(event, fn);
    this.socket.setTimeout(0);
    this.deps.forget(this);
    const unread = this.unread;
    this.unread = undefined;
    this.deps.handoff(this.socket, unread);
  }

  /** The response is out: close, or read the next request. */
  responded(closeAfter: boolean): void {
    if (closeAfter || this.deps.draining()) {
      this.socket.end();
      return;
    }
    // The client is not reading what it was sent: read no further request until it does (Node's
    // server does the same), or a pipelining client could pile up responses in memory without bound.
    if (this.socket.writableNeedDrain) {
      this.blocked = true;
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    // Not from inside this upstream read: the upstream connection just released may be the one the
    // next request acquires, and its parser is still on the stack.
    if (this.unread !== undefined) process.nextTick(() => this.next());
  }

  // A client that half-closes has given up on the response under way, as Node's server (without
  // httpAllowHalfOpen) takes it: the exchange is abandoned and the connection ended.
  private readonly onEnd = (): void => {
    this.clientEnded = true;
    this.exchange.abandon();
    this.socket.end();
  };

  private readonly onError = (): void => {
    // 'close' follows; a client's reset is not the edge's error.
  };

  private readonly onClose = (): void => {
    this.gone = true;
    this.deps.forget(this);
    this.exchange.abandon();
  };

  private readonly onTimeout = (): void => {
    // A busy connection is the upstream timer's business.
    if (this.exchange.active) return;
    // Idle keep-alive connections close. One whose client has not yet read the last response gets
    // the send timeout to do so, as during a response, rather than losing its tail at 5 s.
    if (this.socket.writableLength > 0) {
      const now = performance.now();
      if (this.stalledAt === 0) this.stalledAt = now;
      if (now - this.stalledAt < this.deps.clientSendTimeoutMs) {
        this.socket.setTimeout(this.deps.keepAliveTimeoutMs);
        return;
      }
    }
    this.socket.destroy();
  };

  private readonly onClientDrain = (): void => {
    this.stalledAt = 0;
    if (this.exchange.onClientDrain() || !this.blocked) return;
    this.blocked = false;
    if (this.socket.isPaused()) this.socket.resume();
    this.next();
  };
}
