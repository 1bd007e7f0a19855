import { Router, type Request, type RequestHandler } from "express";
import {
  Host, Upstream, UpstreamRef, WriteRefused, describeRoute, describeUpstream, parseOrThrow, sameValue, statePath, type Op, type StoreReader,
} from "@switchyard/shared";
import { requireWrite } from "./auth.js";
import { currentState, dryRunRequested, rehearse } from "./dry-run.js";
import { ApiError, methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";
import { WRITE_PARAMS, expectedRevision, waitRequest, writeAndWait, type WriteDeps } from "./write.js";

const USAGE =
  "usage: curl -X POST -H 'Authorization: Bearer $TOKEN' 'http://CONTROLLER/_switch_upstream?host=HOST&upstream=UPSTREAM' " +
  "(omit host to switch the default upstream; add create=true to create a route for a new host)";

// Without If-Match the endpoint re-reads and retries on a concurrent write, so the OLD it prints is
// exactly what it replaced. A bounded number of attempts keeps a write storm from spinning it.
const ATTEMPTS = 5;

function queryString(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new ApiError(400, "invalid", `give ${name} once`, name);
  return v;
}

/** `true` / `false` (absent: false). */
export function queryFlag(req: Request, name: string): boolean {
  const v = queryString(req.query[name], name);
  if (v === undefined || v === "false") return false;
  if (v === "true") return true;
  throw new ApiError(400, "invalid", `${name} must be true or false`, name);
}

/** A pool, an address, or a split written as the CLI prints it: `blue=90,green=10` (an address never contains '='). */
function parseUpstream(raw: string) {
  if (!raw.includes("=")) return parseOrThrow(UpstreamRef, raw, "upstream");
  const split = Object.create(null) as Record<string, number>;
  for (const part of raw.split(",")) {
    const m = /^([^=]*)=(\d{1,3})$/.exec(part);
    if (!m) throw new ApiError(400, "invalid", `'${part}' is not pool=weight; write a split as blue=90,green=10`, "upstream");
    if (Object.hasOwn(split, m[1] as string)) throw new ApiError(400, "invalid", `pool '${m[1]}' appears twice in the split`, "upstream");
    split[m[1] as string] = Number(m[2]);
  }
  return parseOrThrow(Upstream, { split }, "upstream");
}

const unknownHost = (host: string) =>
  new ApiError(404, "unknown_host", `no route for host '${host}', so nothing was switched; to create one, add create=true (switchyard switch --create)`, "host");

/**
 * The OpenResty seed's `/_switch_upstream?upstream=...`, fleet-wide and authenticated. With `host`
 * it replaces that host's route with `{ upstream }` (an unknown host is 404 unknown_host unless
 * `create=true`); without it, it switches the default upstream. Answers in text, as the seed did
 * (`H change upstream from OLD to NEW`), or `{revision, diff}` to a client that asks for JSON.
 */
export function seedApi(deps: WriteDeps & { reader: StoreReader }): Router {
  const r = Router();
  r.route("/_switch_upstream")
    .post(accepts("host", "upstream", "create", ...WRITE_PARAMS), requireWrite, async (req, res) => {
      const rawHost = queryString(req.query.host, "host");
      const rawUpstream = queryString(req.query.upstream, "upstream");
      if (rawUpstream === undefined) throw new ApiError(400, "invalid", `upstream is required; ${USAGE}`, "upstream");
      const upstream = parseUpstream(rawUpstream);
      const host = rawHost === undefined ? undefined : parseOrThrow(Host, rawHost, "host");
      const create = queryFlag(req, "create");
      if (create && host === undefined) throw new ApiError(400, "invalid", "create goes with host: the default upstream always exists", "create");
      const ifMatch = expectedRevision(req);
      waitRequest(req);
      const op: Op = host === undefined ? { op: "default.put", upstream } : { op: "route.put", host, route: { upstream } };
      const json = req.accepts(["text/plain", "application/json"]) === "application/json";

      if (dryRunRequested(req)) {
        const snap = await currentState(deps.reader, ifMatch);
        if (host !== undefined && !create && !Object.hasOwn(snap.state.routes, host)) throw unknownHost(host);
        return rehearse(deps, res, [op], ifMatch, snap);
      }
      for (let attempt = 1; ; attempt++) {
        const { revision: seen, value } = host === undefined ? await deps.reader.entry("default") : await deps.reader.entry("route", host);
        if (host !== undefined && value === undefined && !create) throw unknownHost(host);
        const old = host === undefined ? describeUpstream(value as Upstream | undefined) : describeRoute(value as Parameters<typeof describeRoute>[0]);
        try {
          // The compare-and-set on the revision read makes the check and the answer exact: a route
          // deleted meanwhile is not silently re-created.
          const result = await writeAndWait(deps, req, [op], ifMatch ?? seen);
          res.setHeader("ETag", `"${result.revision}"`);
          if (json) {
            const [before, after] = host === undefined ? [value ?? null, upstream] : [value ?? null, op.op === "route.put" ? op.route : null];
            const diff = sameValue(before, after) ? [] : [{ path: host === undefined ? statePath("defaultUpstream") : statePath("routes", host), before, after }];
            res.json({ ...result, diff });
            return;
          }
          let text = `${host ?? "default"} change upstream from ${old} to ${rawUpstream}\n`;
          if ("complete" in result) {
            const total = result.applied.length + result.missing.length;
            text += `applied on ${result.applied.length}/${total} agents${result.missing.length ? `; missing: ${result.missing.join(", ")}` : ""}\n`;
          }
          res.type("text/plain").send(text);
          return;
        } catch (err) {
          const raced = ifMatch === undefined && err instanceof WriteRefused && err.refusal.code === "rev_mismatch";
          if (raced && attempt >= ATTEMPTS) throw new ApiError(409, "conflict", `the state kept changing under ${ATTEMPTS} attempts; try again`);
          if (!raced) throw err;
        }
      }
    });
  return r;
}

/** Mounted before auth: a GET from an old script gets 405 and the usage line, not a 401. */
export const seedMethodGuard: RequestHandler = (req, res, next) => {
  if (req.path !== "/_switch_upstream" || req.method === "POST") return next();
  methodNotAllowed(["POST"], USAGE)(req, res, next);
};
