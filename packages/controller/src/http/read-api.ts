import { Router } from "express";
import type { StoreReader } from "@switchyard/shared";
import { ApiError, methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";

export const MAX_AUDIT = 1000;

export function readApi({ reader }: { reader: StoreReader }): Router {
  const r = Router();

  r.route("/v1/state")
    .get(accepts(), async (req, res) => {
      const { revision, state } = await reader.snapshot();
      const etag = `"${revision}"`;
      res.setHeader("ETag", etag);
      const inm = req.headers["if-none-match"];
      const matches = inm !== undefined && inm.split(",").some((t) => t.trim() === "*" || t.trim().replace(/^W\//, "") === etag);
      if (matches) {
        res.status(304).end();
        return;
      }
      res.json({ revision, ...state });
    })
    // PUT is state-api.ts's, mounted before this router.
    .all(methodNotAllowed(["GET", "PUT"]));

  r.route("/v1/audit")
    .get(accepts("limit"), async (req, res) => {
      const raw = req.query.limit ?? "100";
      const limit = typeof raw === "string" && /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
      if (!(limit >= 1 && limit <= MAX_AUDIT)) throw new ApiError(400, "invalid", `limit must be an integer from 1 to ${MAX_AUDIT}`, "limit");
      const records = await reader.audit(limit);
      res.json(records.map((a) => ({ ...a, at: new Date(a.at).toISOString() })));
    })
    .all(methodNotAllowed(["GET"]));

  return r;
}
