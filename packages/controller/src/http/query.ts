import type { RequestHandler } from "express";
import { ApiError } from "./errors.js";

/**
 * The query parameters a route takes, declared on the route itself: `.get(accepts("limit"), ...)`.
 * Any other parameter is refused with 400 unknown_parameter naming it, before anything is read or
 * written: a misspelled or unsupported option (`?dryRun=true`, `?Wait=applied`) must never be
 * silently ignored while the request goes ahead. Names are case-sensitive.
 */
export function accepts(...names: string[]): RequestHandler {
  const known = new Set(names);
  const takes = names.length === 0 ? "this endpoint takes no query parameters" : `this endpoint takes ${names.join(", ")}`;
  const check: RequestHandler = (req, _res, next) => {
    // Express 5's default query parser (node:querystring) yields a null-prototype object.
    for (const name of Object.keys(req.query)) {
      if (!known.has(name)) return next(new ApiError(400, "unknown_parameter", `unknown query parameter '${name}'; ${takes}`, name));
    }
    next();
  };
  return Object.assign(check, { [ACCEPTS]: Object.freeze([...names]) });
}

const ACCEPTS = Symbol("accepted query parameters");

/** The parameters a handler made by accepts() declares; undefined for any other handler (a test walks the routes with it). */
export function acceptedParameters(handler: unknown): readonly string[] | undefined {
  return typeof handler === "function" ? (handler as { [ACCEPTS]?: readonly string[] })[ACCEPTS] : undefined;
}
