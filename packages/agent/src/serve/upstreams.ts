import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { UpstreamPool } from "./h1/upstream-pool.js";
import type { ForwardTarget } from "./table.js";
import { CLIENT_SEND_TIMEOUT_MS } from "./upstream-policy.js";
import { createWebSocketUpgrades, type WebSocketUpgrades } from "./upgrade-http-proxy.js";

/**
 * Every upstream connection the edge holds: one h1 pool per target address, shared by both front
 * doors, plus WebSocket upgrades (http-proxy). Kept in step with the route table by retain().
 */

export interface UpstreamsOptions {
  /** Longest an upstream may stay silent (connect, response head, or mid-body) before a 504. */
  upstreamTimeoutMs: number;
  log?: Logger;
  /**
   * A client that stops reading a response may hold its upstream connection this long before both
   * are closed. Checked once per upstream timeout period, so the cut comes within one period after it.
   */
  clientSendTimeoutMs?: number;
}

export class Upstreams {
  private readonly pools = new Map<string, UpstreamPool>();
  /** Pools of targets no longer in the table that still carry requests: close() must cut those too. */
  private readonly retiring = new Set<UpstreamPool>();
  private readonly websocket: WebSocketUpgrades;
  private readonly poolOptions: { timeoutMs: number; sendTimeoutMs: number };
  /** How long a client that stopped reading may hold its upstream connection (also its idle keep-alive tail). */
  readonly clientSendTimeoutMs: number;

  constructor(opts: UpstreamsOptions) {
    this.clientSendTimeoutMs = opts.clientSendTimeoutMs ?? CLIENT_SEND_TIMEOUT_MS;
    this.poolOptions = { timeoutMs: opts.upstreamTimeoutMs, sendTimeoutMs: this.clientSendTimeoutMs };
    this.websocket = createWebSocketUpgrades({ upstreamTimeoutMs: opts.upstreamTimeoutMs, ...(opts.log ? { log: opts.log } : {}) });
  }

  /** The pool of a target's address, made on first use. */
  pool(target: ForwardTarget): UpstreamPool {
    let p = this.pools.get(target.address.key);
    if (p === undefined) {
      p = new UpstreamPool(target.address, this.poolOptions);
      this.pools.set(target.address.key, p);
    }
    return p;
  }

  /** Proxies a WebSocket handshake the door has vetted; owns `socket` from here on. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget): void {
    this.websocket.upgrade(req, socket, head, target);
  }

  /**
   * Forgets pools of targets outside `keys` (Target.key values), after a table swap. Idle
   * connections close now; busy ones close when their response ends, so nothing in flight breaks.
   */
  retain(keys: ReadonlySet<string>): void {
    for (const pool of this.retiring) if (pool.open === 0) this.retiring.delete(pool);
    for (const [key, pool] of this.pools) {
      if (keys.has(key)) continue;
      this.pools.delete(key);
      pool.retire();
      if (pool.open > 0) this.retiring.add(pool);
    }
  }

  /** Closes every upstream connection, busy or not (busy exchanges fail with 502). */
  close(): void {
    for (const pool of this.pools.values()) pool.destroy();
    for (const pool of this.retiring) pool.destroy();
    this.pools.clear();
    this.retiring.clear();
    this.websocket.close();
  }
}
