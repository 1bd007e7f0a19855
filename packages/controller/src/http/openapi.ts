import { createRequire } from "node:module";
import { Router } from "express";
import { methodNotAllowed } from "./errors.js";
import { buildOpenApi } from "./openapi/document.js";
import { accepts } from "./query.js";

const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;

/** `GET /v1/openapi.json`, unauthenticated (it holds no data): built on first request, then served as is. */
export function openapiApi(): Router {
  let doc: string | undefined;
  const r = Router();
  r.route("/v1/openapi.json")
    .get(accepts(), (_req, res) => {
      doc ??= JSON.stringify(buildOpenApi(VERSION));
      res.type("application/json").send(doc);
    })
    .all(methodNotAllowed(["GET"]));
  return r;
}
