import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { ConnectionTrouble, HANDSHAKE_UNANSWERED, redisCause } from "../redis.js";
import { everyFromRandomPhase } from "./phased.js";

const RESERVED_EVENTS = new Set(["message", "up", "down", "error", "newListener", "removeListener"]);

export interface LinkOptions {
  /** Sync's reads go through it (redis.ts commandConnection); the link connects, watches and closes it. */
  command: Redis;
  /** The subscription (redis.ts subscriberConnection); owned the same way. */
  subscriber: Redis;
  /** The changes channel: its messages are emitted as 'message'. */
  channel: string;
  /**
   * Further channels, keyed by the event their raw messages are emitted as, e.g. `{ probe: keys.probes }`.
   * 'up' still waits for every subscription, this one's included.
   */
  channels?: Readonly<Record<string, string>>;
  /** How often each connection is PINGed. */
  pingIntervalMs: number;
  /**
   * A PING unanswered for this long marks the connection dead, and so does a handshake (after the
   * TCP connect) unanswered for this long. interval + timeout stays under 3 s.
   */
  pingTimeoutMs: number;
}

/**
 * The agent's two Redis connections (commands, and the subscription) with a watchdog.
 *
 * ioredis alone notices neither a blackholed network (TCP keepalive takes ~40 s) nor a SIGSTOPped
 * server (the socket stays open forever, and a handshake sent to it waits forever), so each ready
 * connection is PINGed on a deadline, a handshake gets the same deadline, and a connection that
 * misses it is dropped. Reconnects back off exponentially with jitter (redis.ts).
 *
 * The subscription is managed here rather than by ioredis's autoResubscribe: 'up' is emitted only
 * after SUBSCRIBE is confirmed, so a resync that follows can never miss a message published between
 * the state read and the subscription.
 *
 * Why Redis cannot be reached (ECONNREFUSED, WRONGPASS, NOAUTH, a timeout, a hung PING) is logged
 * once per change of cause and kept in `problem` until the link is up again.
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
  private downReason: string | null = null;
  private readonly trouble: ConnectionTrouble;
  /** When each connection's handshake began (its 'connect' event), for the handshake deadline. */
  private readonly handshakeSince = new Map<Redis, number>();
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
    this.cmd = opts.command;
    this.sub = opts.subscriber;
    this.trouble = new ConnectionTrouble({ command: this.cmd, subscriber: this.sub }, log);
    this.sub.on("message", (channel: string, raw: string) => {
      const event = this.routes.get(channel);
      if (event !== undefined) this.emit(event, raw);
    });
    for (const [name, conn] of [["command", this.cmd], ["subscriber", this.sub]] as const) {
      conn.on("connect", () => this.handshakeSince.set(conn, Date.now()));
      conn.on("close", () => {
        this.handshakeSince.delete(conn);
        if (conn === this.sub) this.subscribed = false;
        this.setDown(`${name} connection closed`);
      });
      conn.on("ready", () => {
        this.handshakeSince.delete(conn);
        void this.onReady(conn);
      });
    }
  }

  get connected(): boolean {
    return this.isUp;
  }

  /** Why the link is not up (the first connection's failure cause), or null while it is up. */
  get problem(): string | null {
    if (this.isUp) return null;
    return this.trouble.current ?? this.downReason;
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
      this.downReason = null;
      this.log.info("redis link up");
      this.emit("up");
    }
  }

  private setDown(reason: string): void {
    if (!this.isUp) return;
    this.isUp = false;
    this.downReason = reason;
    this.log.warn({ reason }, "redis link down; serving the last good table");
    this.emit("down", reason);
  }

  private watchdog(): void {
    for (const [name, conn] of [["command", this.cmd], ["subscriber", this.sub]] as const) {
      const since = this.handshakeSince.get(conn);
      if (conn.status === "connect" && since !== undefined && Date.now() - since > this.opts.pingTimeoutMs) {
        // Connected, but AUTH/INFO got no reply: a Redis stopped before we dialled it.
        this.handshakeSince.delete(conn);
        this.trouble.note(conn, HANDSHAKE_UNANSWERED);
        conn.disconnect(true);
        continue;
      }
      if (conn.status !== "ready") continue;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timeout: PING unanswered after ${this.opts.pingTimeoutMs} ms (Redis hung or the network drops packets?)`)), this.opts.pingTimeoutMs);
      });
      Promise.race([conn.ping(), deadline])
        .catch((err: Error) => {
          if (this.closed || conn.status !== "ready") return;
          const cause = redisCause(err);
          if (cause !== null) this.trouble.note(conn, cause);
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
