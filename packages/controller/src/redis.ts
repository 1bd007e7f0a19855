import type { Redis, RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { dialRedis, type RedisTarget } from "@switchyard/shared";

/**
 * The controller's only Redis connection factory: one function per connection role. Where Redis
 * is comes from the target (shared `redis-target.ts`); how each role behaves is decided here, with
 * the reason next to its options. main.ts opens them and hands them to whoever needs them; nothing
 * else in the controller dials Redis. Every role reconnects with the shared `reconnectDelay`.
 */

export interface RedisSettings {
  target: RedisTarget;
  /** How long a command on a fail-fast connection may take before it fails (REDIS_COMMAND_TIMEOUT_MS). */
  commandTimeoutMs: number;
}

// Common to every role: a TCP keepalive probe after 1 s idle, so a peer that vanished is noticed
// by the kernel; a 2 s connect timeout, so a blackholed Redis fails and is retried; and a name in
// CLIENT LIST, so an operator can tell the controller's connections apart.
const common = (role: string): RedisOptions => ({ keepAlive: 1000, connectTimeout: 2000, connectionName: `switchyard-controller:${role}` });

/** Logs the first error of an outage at warn and the recovery at info: one pair per outage, not one line per retry. */
function watched(redis: Redis, role: string, log: Logger): Redis {
  let down = false;
  redis.on("error", (err: Error) => {
    if (!down) log.warn({ role, err: err.message }, "redis connection error");
    down = true;
  });
  redis.on("ready", () => {
    if (down) log.info({ role }, "redis connection restored");
    down = false;
  });
  return redis;
}

/**
 * Commands for API requests, the store, cutover records and probes. Requests must fail fast
 * rather than hang: no offline queue (while disconnected a command fails at once, answered 503),
 * a command timeout (a SIGSTOPped server keeps the socket open and answers nothing) and one retry.
 */
export function commandConnection(s: RedisSettings, log: Logger): Redis {
  return watched(dialRedis(s.target, { ...common("command"), enableOfflineQueue: false, commandTimeout: s.commandTimeoutMs, maxRetriesPerRequest: 1 }), "command", log);
}

/**
 * The ack subscriber for `?wait=applied` and cutover steps. It only ever sends SUBSCRIBE, which
 * AckWatcher issues on every `ready` itself: autoResubscribe is off because ioredis would resend it
 * during its ready check, which subscriber mode refuses. No command timeout (an idle subscriber
 * has nothing outstanding) and no retry limit: acks are hints, heartbeat records are the truth.
 */
export function ackSubscriberConnection(s: RedisSettings, log: Logger): Redis {
  return watched(dialRedis(s.target, { ...common("acks"), autoResubscribe: false, maxRetriesPerRequest: null }), "acks", log);
}

/**
 * The event hub's subscriber (GET /v1/events): changes, acks and cutover progress, one connection
 * however many clients listen. Like the ack subscriber: SUBSCRIBE is reissued by EventHub on every
 * `ready` (autoResubscribe off), no command timeout, no retry limit; a missed message is only a
 * late screen update, the dashboard re-reads state on every event it does get.
 */
export function eventsSubscriberConnection(s: RedisSettings, log: Logger): Redis {
  return watched(dialRedis(s.target, { ...common("events"), autoResubscribe: false, maxRetriesPerRequest: null }), "events", log);
}

/**
 * BullMQ's Queue: used inside API requests (enqueue a cutover, find its job on abort), so it fails
 * fast like the command connection. BullMQ leaves a connection it was handed open: main.ts closes it.
 */
export function queueConnection(s: RedisSettings, log: Logger): Redis {
  return watched(dialRedis(s.target, { ...common("queue"), enableOfflineQueue: false, commandTimeout: s.commandTimeoutMs, maxRetriesPerRequest: 1 }), "queue", log);
}

/**
 * BullMQ's Worker: BullMQ requires maxRetriesPerRequest null (it refuses anything else) and
 * duplicates this connection for its blocking job fetch, so no command timeout either: a blocking
 * wait for the next job is not a hung server. Commands wait through a reconnect instead of failing.
 */
export function workerConnection(s: RedisSettings, log: Logger): Redis {
  return watched(dialRedis(s.target, { ...common("worker"), maxRetriesPerRequest: null }), "worker", log);
}
