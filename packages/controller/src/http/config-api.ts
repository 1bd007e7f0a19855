import express, { Router, type RequestHandler } from "express";
import {
  DefaultBody, Host, Pool, PoolName, Route, parseOrThrow, type StoreReader,
} from "@switchyard/shared";
import { requireWrite } from "./auth.js";
import { ApiError, methodNotAllowed, notFound } from "./errors.js";
import { accepts } from "./query.js";
import { WRITE_PARAMS, commit, type WriteDeps } from "./write.js";

export interface ConfigApiDeps extends WriteDeps {
  reader: StoreReader;
}

export const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is("application/json")) return next(new ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json"));
  next();
};

// Bodies are small documents; 64 KiB holds a 256-target pool with room to spare.
export const jsonBody: RequestHandler = express.json({ limit: "64kb", strict: true });
const writeJson = [accepts(...WRITE_PARAMS), requireWrite, requireJson, jsonBody];
const writeNoBody = [accepts(...WRITE_PARAMS), requireWrite];

/** Pools, routes and the default upstream: validated by the shared schemas, written by one Lua script each. */
export function configApi(deps: ConfigApiDeps): Router {
  const { reader } = deps;
  const r = Router();

  r.route("/v1/pools/:name")
    .get(accepts(), async (req, res) => {
      const name = parseOrThrow(PoolName, req.params.name, "name");
      const { revision, value } = await reader.entry("pool", name);
      if (value === undefined) throw notFound(`pool '${name}'`);
      res.setHeader("ETag", `"${revision}"`).json({ name, ...parseOrThrow(Pool, value) });
    })
    .put(...writeJson, async (req, res) => {
      const name = parseOrThrow(PoolName, req.params.name, "name");
      await commit(deps, req, res, [{ op: "pool.put", name, pool: parseOrThrow(Pool, req.body) }]);
    })
    .delete(...writeNoBody, async (req, res) => {
      const name = parseOrThrow(PoolName, req.params.name, "name");
      await commit(deps, req, res, [{ op: "pool.del", name }]);
    })
    .all(methodNotAllowed(["GET", "PUT", "DELETE"]));

  r.route("/v1/routes/:host")
    .get(accepts(), async (req, res) => {
      const host = parseOrThrow(Host, req.params.host, "host");
      const { revision, value } = await reader.entry("route", host);
      if (value === undefined) throw notFound(`route '${host}'`);
      res.setHeader("ETag", `"${revision}"`).json({ host, ...parseOrThrow(Route, value) });
    })
    .put(...writeJson, async (req, res) => {
      const host = parseOrThrow(Host, req.params.host, "host");
      await commit(deps, req, res, [{ op: "route.put", host, route: parseOrThrow(Route, req.body) }]);
    })
    .delete(...writeNoBody, async (req, res) => {
      const host = parseOrThrow(Host, req.params.host, "host");
      await commit(deps, req, res, [{ op: "route.del", host }]);
    })
    .all(methodNotAllowed(["GET", "PUT", "DELETE"]));

  r.route("/v1/default")
    .put(...writeJson, async (req, res) => {
      const { upstream } = parseOrThrow(DefaultBody, req.body);
      await commit(deps, req, res, [{ op: "default.put", upstream }]);
    })
    .all(methodNotAllowed(["PUT"]));

  return r;
}
