import { LateWrite } from "./errors.js";

/**
 * What went wrong with Redis, read from an ioredis error: connection-level failures (plain
 * errors with a system code or ioredis's own messages) and the server's refusals (ReplyError,
 * whose message starts with an error code such as OOM or READONLY). Each process decides what
 * a kind means for it: the controller turns it into an HTTP status (http/errors.ts).
 */
export type RedisFailureKind =
  /** No connection, or it broke: refused, reset, closed, offline, retries used up. */
  | "unreachable"
  /** The command got no answer in time (a hung or SIGSTOPped server keeps the socket open). */
  | "timeout"
  /** A write reached Redis after its deadline and was refused by write.lua (LateWrite): nothing written. */
  | "late"
  /** Redis is loading its dataset after a restart (LOADING). */
  | "loading"
  /** A script or function is running past the busy threshold (BUSY). */
  | "busy"
  /** The server is a replica: a failover under way, or the URL names a replica (READONLY, MASTERDOWN). */
  | "readonly"
  /** Credentials or ACL permissions refused (NOAUTH, WRONGPASS, NOPERM). */
  | "auth"
  /** maxmemory reached with noeviction (OOM; EXECABORT of a transaction under OOM). */
  | "out_of_memory"
  /** Writes refused because the server cannot persist (MISCONF). */
  | "persistence"
  /** A cluster that is down, resharding or not addressed as a cluster (CLUSTERDOWN, TRYAGAIN, MOVED, ASK, CROSSSLOT). */
  | "cluster"
  /** A key holds another type than Switchyard wrote there (WRONGTYPE): the data is not ours. */
  | "wrong_type"
  /** Any other refusal (ERR ...): a bug or an unsupported server. */
  | "refused";

export interface RedisFailure {
  kind: RedisFailureKind;
  /** The error's first line, for logs; short and free of script text. */
  detail: string;
}

const REPLY_CODES = new Map<string, RedisFailureKind>([
  ["LOADING", "loading"],
  ["BUSY", "busy"],
  ["READONLY", "readonly"],
  ["MASTERDOWN", "readonly"],
  ["NOAUTH", "auth"],
  ["WRONGPASS", "auth"],
  ["NOPERM", "auth"],
  ["OOM", "out_of_memory"],
  ["MISCONF", "persistence"],
  ["CLUSTERDOWN", "cluster"],
  ["TRYAGAIN", "cluster"],
  ["MOVED", "cluster"],
  ["ASK", "cluster"],
  ["CROSSSLOT", "cluster"],
  ["WRONGTYPE", "wrong_type"],
]);

// ioredis's own messages for a link that is down, closed or offline (enableOfflineQueue: false).
const LINK_DOWN = /Connection is closed|enableOfflineQueue|Stream isn't writeable|max retries per request|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT/i;
const SYSTEM_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"]);

const firstLine = (s: string) => (s.split("\n")[0] ?? "").replace(/\s+script: .*$/, "").slice(0, 200);

/** Classifies an error from an ioredis call; undefined when it does not come from Redis. */
export function redisFailure(err: unknown): RedisFailure | undefined {
  if (!(err instanceof Error)) return undefined;
  if (err instanceof LateWrite) return { kind: "late", detail: err.message };
  const detail = firstLine(err.message);
  if (err.name === "ReplyError") {
    const code = err.message.split(/\s/, 1)[0] ?? "";
    // A transaction under OOM aborts as a whole; the cause is in the errors queued before EXEC.
    if (code === "EXECABORT") {
      const previous = (err as { previousErrors?: unknown[] }).previousErrors ?? [];
      return previous.map(redisFailure).find((f) => f !== undefined && f.kind !== "refused") ?? { kind: "refused", detail };
    }
    // Inside a script, Redis prefixes nothing but appends "script: ..."; the code still leads.
    return { kind: REPLY_CODES.get(code) ?? "refused", detail };
  }
  if (err.name === "MaxRetriesPerRequestError") return { kind: "unreachable", detail };
  if (/Command timed out/i.test(err.message)) return { kind: "timeout", detail };
  const code = (err as { code?: unknown }).code;
  if ((typeof code === "string" && SYSTEM_CODES.has(code)) || LINK_DOWN.test(err.message)) return { kind: "unreachable", detail };
  return undefined;
}

/** What a connection-level error says when Redis accepted the TCP connection but never answered its handshake. */
export const HANDSHAKE_UNANSWERED = "timeout: Redis accepted the connection but did not answer its handshake (hung or overloaded?)";

/** Consequences of a failure, not causes: they would mask the cause they follow. */
const CONSEQUENCES = [/^Connection is closed/, /^Stream isn't writeable/];
const MAX_CAUSE = 300;

/**
 * Why a connection failed, as an operator should read it (a connection's `error` event): ECONNREFUSED,
 * ETIMEDOUT, WRONGPASS and NOAUTH come through in ioredis's own words (with a hint for the auth
 * ones); a handshake that got no reply says so. null for errors that only follow from an earlier
 * cause. Used by the agent's and the controller's connection factories for logs and lastError.
 */
export function redisCause(err: Error): string | null {
  const m = err.message;
  if (CONSEQUENCES.some((re) => re.test(m))) return null;
  // The only command a connection-level error reports a timeout for is its handshake (AUTH, INFO).
  if (m === "Command timed out") return HANDSHAKE_UNANSWERED;
  const hint = /^(WRONGPASS|NOAUTH)/.test(m) ? " (check the password in REDIS_URL)" : "";
  return (m.length > MAX_CAUSE ? `${m.slice(0, MAX_CAUSE - 1)}…` : m) + hint;
}
