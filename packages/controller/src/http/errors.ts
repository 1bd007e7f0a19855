import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { CorruptEntries } from "../store/guard.js";
import { ReplicationShort } from "@switchyard/shared";
import { CorruptState, ValidationError, WriteRefused, redisFailure, type RedisFailureKind } from "@switchyard/shared";

/** Every error a client sees: a status and JSON `{ error, message, field? }`, never a stack trace. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} does not exist`);

export function methodNotAllowed(allow: string[], usage?: string): RequestHandler {
  return (req, _res, next) =>
    next(new ApiError(405, "method_not_allowed", usage ?? `${req.method} is not allowed here; use ${allow.join(", ")}`, undefined, { Allow: allow.join(", ") }));
}

// The endpoint's body limit, as body-parser reports it: 64 KiB for one entity, more for batches.
const kib = (bytes: number) => (bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`);

const MAYBE_WRITTEN = "a write that timed out may or may not have been applied, so read the revision before retrying";

/**
 * What a client is told for each way Redis can fail (shared store/redis-errors.ts). Redis being
 * unable to serve is 503 redis_unavailable, the message says why, and `retry` marks the causes
 * that pass on their own (Retry-After: 1). Refusals mean nothing was written; only a lost link
 * or a timeout leaves a write's fate unknown.
 */
const REDIS_ANSWERS: Record<RedisFailureKind, { status: number; code: string; message: string; retry: boolean }> = {
  unreachable: { status: 503, code: "redis_unavailable", message: `Redis is unreachable or not answering; ${MAYBE_WRITTEN}`, retry: true },
  timeout: { status: 503, code: "redis_unavailable", message: `Redis is unreachable or not answering; ${MAYBE_WRITTEN}`, retry: true },
  late: { status: 503, code: "redis_unavailable", message: "Redis answered after the write's deadline (hung or overloaded); nothing was written", retry: true },
  loading: { status: 503, code: "redis_unavailable", message: "Redis is loading its data after a restart; nothing was written, retry shortly", retry: true },
  busy: { status: 503, code: "redis_unavailable", message: "Redis is busy running a script and answers nothing else; nothing was written", retry: true },
  readonly: { status: 503, code: "redis_unavailable", message: "Redis is a read-only replica (a failover under way, or REDIS_URL names a replica); nothing was written", retry: true },
  cluster: { status: 503, code: "redis_unavailable", message: "the Redis cluster is down, resharding or not addressed as a cluster; nothing was written", retry: true },
  auth: { status: 503, code: "redis_unavailable", message: "Redis refused the controller's credentials or ACL permissions; nothing was done, see the controller log", retry: false },
  out_of_memory: { status: 503, code: "store_full", message: "Redis is out of memory (maxmemory reached) and refused the request; nothing was written. Free memory or raise maxmemory", retry: false },
  persistence: { status: 503, code: "redis_unavailable", message: "Redis refuses writes because it cannot persist (MISCONF); nothing was written", retry: false },
  wrong_type: { status: 500, code: "corrupt_state", message: "a Switchyard key in Redis holds the wrong type; see the controller log", retry: false },
  refused: { status: 500, code: "redis_error", message: "Redis refused a command; see the controller log", retry: false },
};

function toApiError(err: unknown, log: Logger): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ValidationError) return new ApiError(400, "invalid", err.message, err.field);
  if (err instanceof WriteRefused) {
    const r = err.refusal;
    switch (r.code) {
      case "rev_mismatch":
        return new ApiError(412, "precondition_failed", `the current revision is ${r.current}`, undefined, { ETag: `"${r.current}"` });
      case "missing_pool":
        return new ApiError(400, "invalid", `pool '${r.pool}' does not exist`, "upstream");
      case "pool_in_use":
        return new ApiError(409, "conflict", `pool '${r.pool}' is still used by ${r.referrers.map((x) => (x === "@default" ? "the default upstream" : `route ${x}`)).join(", ")}`);
      case "not_found":
        return notFound("that object");
      case "bad_op":
        break;
      case "uninitialized":
        return new ApiError(503, "store_uninitialized", "the store has no lineage (Redis restarted empty or was flushed): nothing was written; the controller restores the newest table the agents hold, or an operator starts fresh with POST /v1/store/init?confirm=true", undefined, { "Retry-After": "1" });
    }
  }
  const e = err as { type?: string; status?: number; message?: string; limit?: number };
  if (e?.type === "entity.too.large") return new ApiError(413, "payload_too_large", `the body is larger than ${kib(e.limit ?? 65_536)}`);
  if (e?.type === "entity.parse.failed") return new ApiError(400, "invalid_json", "the body is not valid JSON");
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported") return new ApiError(415, "unsupported_media_type", "the body must be UTF-8 JSON");
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) return new ApiError(e.status, "bad_request", "the request could not be read");
  if (err instanceof ReplicationShort) return new ApiError(503, "replication_timeout", `${err.message}. Read the revision before retrying`, undefined, { "Retry-After": "1" });
  if (err instanceof CorruptEntries) return new ApiError(503, "corrupt_state", `${err.message}; fix or delete them (GET /v1/store/check lists them); nothing was written`);
  if (err instanceof CorruptState) {
    log.error({ err }, "state in Redis fails validation");
    return new ApiError(500, "corrupt_state", "the state in Redis fails validation; see the controller log");
  }
  const failure = redisFailure(err);
  if (failure) {
    const a = REDIS_ANSWERS[failure.kind];
    log[a.status >= 500 && !a.retry ? "error" : "warn"]({ kind: failure.kind, err: failure.detail }, "redis failed a request");
    return new ApiError(a.status, a.code, a.message, undefined, a.retry ? { "Retry-After": "1" } : {});
  }
  log.error({ err }, "unhandled error");
  return new ApiError(500, "internal", "internal error; see the controller log");
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const api = toApiError(err, log);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(api.headers)) res.setHeader(k, v);
    if (api.status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="switchyard"');
    res.status(api.status).json(api.field ? { error: api.code, message: api.message, field: api.field } : { error: api.code, message: api.message });
  };
}
