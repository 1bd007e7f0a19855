import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import type { Scope, Token } from "../config.js";
import { ApiError } from "./errors.js";

export interface Principal {
  name: string;
  scope: Scope;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by authenticate(); every route after it can rely on it. */
      principal?: Principal;
    }
  }
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * Bearer auth. Secrets are compared as SHA-256 digests with timingSafeEqual so neither the
 * length nor the content of a secret leaks through response timing.
 */
export function authenticate(tokens: Token[]): RequestHandler {
  const known = tokens.map((t) => ({ ...t, digest: digest(t.secret) }));
  return (req, _res, next) => {
    const header = req.headers.authorization ?? "";
    const m = /^Bearer ([^\s]+)$/i.exec(header);
    if (!m) return next(new ApiError(401, "unauthorized", "send Authorization: Bearer <token>"));
    const d = digest(m[1] as string);
    let found: (typeof known)[number] | undefined;
    for (const t of known) if (timingSafeEqual(t.digest, d)) found = t;
    if (!found) return next(new ApiError(401, "unauthorized", "unknown token"));
    req.principal = { name: found.name, scope: found.scope };
    next();
  };
}

export const requireWrite: RequestHandler = (req, _res, next) => {
  if (req.principal?.scope !== "write") return next(new ApiError(403, "forbidden", "this token has read scope; writes need a write token"));
  next();
};
