import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { HANDSHAKE_UNANSWERED, dialRedis, reconnectDelay, redisCause, urlTarget, type RedisTarget } from "@switchyard/shared";
import type { AgentConfig } from "./config.js";

/**
 * The agent's only Redis connection factory: one function per connection role, each with the
 * reason its options differ. Nothing else in the agent calls `new Redis(`; the composition roots
 * call these and pass the connections in, and whoever receives a connection owns it (closes it).
 *
 * Where Redis is lives in `RedisTarget`, and only `open()` reads it. Issue 12's Sentinel
 * (REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_SENTINEL_PASSWORD) becomes a branch in `open()`;
 * its read replica (AGENT_REDIS_READ_URL) becomes a second target that `edgeConnections()` gives
 * to the `read` and `subscriber` roles, while proofs stay on the primary.
 */

/** Where the fleet's Redis is: a URL, or Sentinel (shared redis-target.ts). */
export type { RedisTarget };

export const redisTarget = (config: Pick<AgentConfig, "redisUrl"> & Partial<Pick<AgentConfig, "redis">>): RedisTarget => config.redis ?? urlTarget(config.redisUrl);

/** A command that gets no reply in this long fails (a SIGSTOPped Redis keeps the socket open). */
export const COMMAND_TIMEOUT_MS = 2000;

/** What every agent connection shares. */
const BASE: RedisOptions = {
  // Connected by its owner's start(), so nothing dials Redis before the process is wired.
  lazyConnect: true,
  // While disconnected a command fails at once instead of waiting in a queue: sync resyncs on
  // reconnect anyway, and a proof or counter flush that waited would report stale facts late.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  // A TCP connect that does not complete (blackholed address) fails in 2 s.
  connectTimeout: 2000,
  // A dead peer's socket is noticed by TCP keepalive, not only by the next command.
  keepAlive: 1000,
  // The shared backoff, capped at 1 s for agents: a Redis back after an outage (restarted empty,
  // waiting for the fleet's offers) is found within ~1 s, and the jitter still spreads a fleet.
  retryStrategy: (attempt: number) => Math.min(1000, reconnectDelay(attempt)),
};

function open(target: RedisTarget, connectionName: string, options: RedisOptions, log: Logger): Redis {
  const conn = dialRedis(target, { ...BASE, ...options, connectionName });
  // Every retry's error, for debugging; the role's owner reports causes once (ConnectionTrouble).
  conn.on("error", (err: Error) => log.debug({ conn: connectionName, err: err.message }, "redis error"));
  return conn;
}

/**
 * Commands for one proxy process: sync's reads (snapshot, change log) and the writes of proofs
 * and probe reports. A command timeout, because a hung Redis must fail a read rather than stall
 * the sync chain behind it. Watched by the link (PING deadline), which owns and connects it.
 */
export function commandConnection(target: RedisTarget, log: Logger): Redis {
  return open(target, "switchyard-agent", { commandTimeout: COMMAND_TIMEOUT_MS }, log);
}

/**
 * The changes (and probes) subscription. ioredis's autoResubscribe is off: the link resubscribes
 * itself and says 'up' only once SUBSCRIBE is confirmed, so the resync that follows cannot miss a
 * message. No command timeout: a subscriber sends only SUBSCRIBE and the link's PINGs, which
 * carry their own deadline.
 */
export function subscriberConnection(target: RedisTarget, log: Logger): Redis {
  return open(target, "switchyard-agent-sub", { autoResubscribe: false }, log);
}

/**
 * Traffic counters: a connection of their own, because exactly-once counting needs the opposite
 * of the command connection's policy. A flush is sent on a ready connection or not at all, never
 * resent after a reconnect (autoResendUnfulfilledCommands off, no retries) and never timed out:
 * a paused Redis may still run a timed-out HINCRBY later, which would count it twice.
 */
export function statsConnection(target: RedisTarget, log: Logger): Redis {
  return open(target, "switchyard-agent-stats", { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 }, log);
}

/**
 * The cluster primary's proof connection (acks and heartbeat for all its workers). The command
 * policy, but it connects at once, since no link owns it, and it reports its own failures: it is
 * the primary's only connection.
 */
export function proofConnection(target: RedisTarget, log: Logger): Redis {
  const conn = open(target, "switchyard-agent-primary", { commandTimeout: COMMAND_TIMEOUT_MS, lazyConnect: false }, log);
  new ConnectionTrouble({ proof: conn }, log);
  return conn;
}

/**
 * The connections of one proxy process. `read` is what sync reads through, `command` what proofs
 * and probe reports write through: one connection today; with a read replica (issue 12) `read`
 * and `subscriber` move to it and `command` stays on the primary.
 */
export function edgeConnections(target: RedisTarget, log: Logger): { command: Redis; read: Redis; subscriber: Redis; stats: Redis } {
  const command = commandConnection(target, log);
  return { command, read: command, subscriber: subscriberConnection(target, log), stats: statsConnection(target, log) };
}

// Shared with the controller, so both processes name causes the same way.
export { HANDSHAKE_UNANSWERED, redisCause };

/**
 * The current failure cause of each of a few connections, logged once per change of cause (not
 * once per retry). The same cause on two connections is logged once. A connection that becomes
 * ready has no cause. `note()` adds causes the connections do not emit themselves (a PING
 * deadline, a handshake that never ends).
 */
export class ConnectionTrouble {
  private readonly causes = new Map<string, string | null>();

  constructor(
    private readonly conns: Readonly<Record<string, Redis>>,
    private readonly log: Logger,
  ) {
    for (const [role, conn] of Object.entries(conns)) {
      this.causes.set(role, null);
      conn.on("error", (err: Error) => {
        const cause = redisCause(err);
        if (cause !== null) this.note(conn, cause);
      });
      conn.on("ready", () => this.note(conn, null));
    }
  }

  note(conn: Redis, cause: string | null): void {
    const role = Object.keys(this.conns).find((r) => this.conns[r] === conn);
    if (role === undefined || this.causes.get(role) === cause) return;
    const others = [...this.causes].filter(([r]) => r !== role).map(([, c]) => c);
    this.causes.set(role, cause);
    if (cause !== null && !others.includes(cause)) this.log.warn({ conn: role, cause }, `redis unreachable: ${cause}`);
  }

  /** The first connection's cause, with its role, or null when none has one. */
  get current(): string | null {
    for (const [role, cause] of this.causes) if (cause !== null) return `redis ${role} connection: ${cause}`;
    return null;
  }
}
