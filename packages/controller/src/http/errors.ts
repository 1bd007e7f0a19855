import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { CorruptState, ValidationError, WriteRefused } from "@switchyard/shared";

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

// ioredis rejects with these when the link is down (offline queue disabled), closed, or hung past commandTimeout.
const REDIS_DOWN = /Command timed out|enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|max retries|Stream isn't writeable/i;

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
    }
  }
  const e = err as { type?: string; status?: number; message?: string };
  if (e?.type === "entity.too.large") return new ApiError(413, "payload_too_large", "the body is larger than 64 KiB");
  if (e?.type === "entity.parse.failed") return new ApiError(400, "invalid_json", "the body is not valid JSON");
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported") return new ApiError(415, "unsupported_media_type", "the body must be UTF-8 JSON");
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) return new ApiError(e.status, "bad_request", "the request could not be read");
  if (err instanceof CorruptState) {
    log.error({ err }, "state in Redis fails validation");
    return new ApiError(500, "corrupt_state", "the state in Redis fails validation; see the controller log");
  }
  if (err instanceof Error && REDIS_DOWN.test(err.message)) {
    log.warn({ err: err.message }, "redis unavailable");
    return new ApiError(503, "redis_unavailable", "Redis is unreachable or not answering; a write that timed out may or may not have been applied, so read the revision before retrying");
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
