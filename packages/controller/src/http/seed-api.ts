import { Router, type RequestHandler } from "express";
import {
  Host, UpstreamRef, WriteRefused, describeRoute, describeUpstream, parseOrThrow, type Op, type StoreReader, type Upstream,
} from "@switchyard/shared";
import { requireWrite } from "./auth.js";
import { ApiError, methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";
import { WAIT_PARAMS, expectedRevision, writeAndWait, type WriteDeps } from "./write.js";

const USAGE =
  "usage: curl -X POST -H 'Authorization: Bearer $TOKEN' 'http://CONTROLLER/_switch_upstream?host=HOST&upstream=UPSTREAM' " +
  "(omit host to switch the default upstream)";

// Without If-Match the endpoint re-reads and retries on a concurrent write, so the OLD it prints is
// exactly what it replaced. A bounded number of attempts keeps a write storm from spinning it.
const ATTEMPTS = 5;

function queryString(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new ApiError(400, "invalid", `give ${name} once`, name);
  return v;
}

/**
 * The OpenResty seed's `/_switch_upstream?upstream=...`, fleet-wide and authenticated. With `host`
 * it replaces that host's route with `{ upstream }`; without it, it switches the default upstream.
 * Answers in text, as the seed did: `H change upstream from OLD to NEW`.
 */
export function seedApi(deps: WriteDeps & { reader: StoreReader }): Router {
  const r = Router();
  r.route("/_switch_upstream")
    .post(accepts("host", "upstream", ...WAIT_PARAMS), requireWrite, async (req, res) => {
      const rawHost = queryString(req.query.host, "host");
      const rawUpstream = queryString(req.query.upstream, "upstream");
      if (rawUpstream === undefined) throw new ApiError(400, "invalid", `upstream is required; ${USAGE}`, "upstream");
      const upstream: Upstream = parseOrThrow(UpstreamRef, rawUpstream, "upstream");
      const host = rawHost === undefined ? undefined : parseOrThrow(Host, rawHost, "host");
      const ifMatch = expectedRevision(req);
      const op: Op = host === undefined ? { op: "default.put", upstream } : { op: "route.put", host, route: { upstream } };

      for (let attempt = 1; ; attempt++) {
        let old: string;
        let seen: number;
        if (host === undefined) {
          const { revision, value } = await deps.reader.entry("default");
          [old, seen] = [describeUpstream(value as Upstream | undefined), revision];
        } else {
          const { revision, value } = await deps.reader.entry("route", host);
          [old, seen] = [describeRoute(value as Parameters<typeof describeRoute>[0]), revision];
        }
        try {
          const result = await writeAndWait(deps, req, [op], ifMatch ?? seen);
          let text = `${host ?? "default"} change upstream from ${old} to ${rawUpstream}\n`;
          if ("complete" in result) {
            const total = result.applied.length + result.missing.length;
            text += `applied on ${result.applied.length}/${total} agents${result.missing.length ? `; missing: ${result.missing.join(", ")}` : ""}\n`;
          }
          res.setHeader("ETag", `"${result.revision}"`).type("text/plain").send(text);
          return;
        } catch (err) {
          const raced = ifMatch === undefined && err instanceof WriteRefused && err.refusal.code === "rev_mismatch";
          if (raced && attempt >= ATTEMPTS) throw new ApiError(409, "conflict", `the state kept changing under ${ATTEMPTS} attempts; try again`);
          if (!raced) throw err;
        }
      }
    })
  return r;
}

/** Mounted before auth: a GET from an old script gets 405 and the usage line, not a 401. */
export const seedMethodGuard: RequestHandler = (req, res, next) => {
  if (req.path !== "/_switch_upstream" || req.method === "POST") return next();
  methodNotAllowed(["POST"], USAGE)(req, res, next);
};
