import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { reconnectDelay } from "@switchyard/shared";
import { everyFromRandomPhase } from "./phased.js";

const RESERVED_EVENTS = new Set(["message", "up", "down", "error", "newListener", "removeListener"]);

export interface LinkOptions {
  url: string;
  /** The changes channel: its messages are emitted as 'message'. */
  channel: string;
  /**
   * Further channels, keyed by the event their raw messages are emitted as, e.g. `{ probe: keys.probes }`.
   * 'up' still waits for every subscription, this one's included.
   */
  channels?: Readonly<Record<string, string>>;
  /** How often each connection is PINGed. */
  pingIntervalMs: number;
  /** A PING unanswered for this long marks the connection dead. interval + timeout stays under 3 s. */
  pingTimeoutMs: number;
  commandTimeoutMs: number;
}

/**
 * The agent's two Redis connections (commands, and the subscription) with a watchdog.
 *
 * ioredis alone notices neither a blackholed network (TCP keepalive takes ~40 s) nor a SIGSTOPped
 * server (the socket stays open forever), so each connection is PINGed on a deadline and dropped
 * when it misses it. Reconnects back off exponentially with jitter.
 *
 * The subscription is managed here rather than by ioredis's autoResubscribe: 'up' is emitted only
 * after SUBSCRIBE is confirmed, so a resync that follows can never miss a message published between
 * the state read and the subscription.
 *
 * Events: 'message' (raw string, the changes channel), one event per extra channel (raw string),
 * 'up' (both connections usable and every channel subscribed), 'down' (reason).
 */
export class RedisLink extends EventEmitter {
  readonly cmd: Redis;
  readonly sub: Redis;
  private pings: { stop(): void } | undefined;
  private subscribed = false;
  private isUp = false;
  private closed = false;
  /** Channel -> the event its messages are emitted as; the changes channel first. */
  private readonly routes: ReadonlyMap<string, string>;

  constructor(
    private readonly opts: LinkOptions,
    private readonly log: Logger,
  ) {
    super();
    const routes = new Map([[opts.channel, "message"]]);
    for (const [event, channel] of Object.entries(opts.channels ?? {})) {
      if (RESERVED_EVENTS.has(event)) throw new Error(`link event name '${event}' is reserved`);
      if (routes.has(channel)) throw new Error(`channel '${channel}' is subscribed twice`);
      routes.set(channel, event);
    }
    this.routes = routes;
    const common = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      keepAlive: 1000,
      lazyConnect: true,
      retryStrategy: reconnectDelay,
    };
    this.cmd = new Redis(opts.url, { ...common, commandTimeout: opts.commandTimeoutMs, connectionName: "switchyard-agent" });
    this.sub = new Redis(opts.url, { ...common, autoResubscribe: false, connectionName: "switchyard-agent-sub" });
    this.sub.on("message", (channel: string, raw: string) => {
      const event = this.routes.get(channel);
      if (event !== undefined) this.emit(event, raw);
    });
    for (const [name, conn] of [["command", this.cmd], ["subscriber", this.sub]] as const) {
      conn.on("error", (err: Error) => this.log.debug({ conn: name, err: err.message }, "redis error"));
      conn.on("close", () => {
        if (conn === this.sub) this.subscribed = false;
        this.setDown(`${name} connection closed`);
      });
      conn.on("ready", () => void this.onReady(conn));
    }
  }

  get connected(): boolean {
    return this.isUp;
  }

  async start(): Promise<void> {
    this.pings = everyFromRandomPhase(this.opts.pingIntervalMs, () => this.watchdog());
    // Connection failures surface as events and retries; start() never throws for an absent Redis.
    await Promise.allSettled([this.cmd.connect(), this.sub.connect()]);
  }

  private async onReady(conn: Redis): Promise<void> {
    if (conn === this.sub) {
      try {
        // Resolves only once Redis confirmed every channel.
        await this.sub.subscribe(...this.routes.keys());
        this.subscribed = true;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "subscribe failed; reconnecting");
        this.sub.disconnect(true);
        return;
      }
    }
    this.checkUp();
  }

  private checkUp(): void {
    if (this.isUp || this.closed) return;
    if (this.cmd.status === "ready" && this.sub.status === "ready" && this.subscribed) {
      this.isUp = true;
      this.log.info("redis link up");
      this.emit("up");
    }
  }

  private setDown(reason: string): void {
    if (!this.isUp) return;
    this.isUp = false;
    this.log.warn({ reason }, "redis link down; serving the last good table");
    this.emit("down", reason);
  }

  private watchdog(): void {
    for (const [name, conn] of [["command", this.cmd], ["subscriber", this.sub]] as const) {
      if (conn.status !== "ready") continue;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`PING unanswered after ${this.opts.pingTimeoutMs} ms`)), this.opts.pingTimeoutMs);
      });
      Promise.race([conn.ping(), deadline])
        .catch((err: Error) => {
          if (this.closed || conn.status !== "ready") return;
          this.log.warn({ conn: name, err: err.message }, "redis connection hung or dead; reconnecting");
          if (conn === this.sub) this.subscribed = false;
          this.setDown(`${name}: ${err.message}`);
          conn.disconnect(true);
        })
        .finally(() => clearTimeout(timer));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pings?.stop();
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}
