import { Router } from "express";
import type { StoreGuard } from "../store/guard.js";
import { methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";

/**
 * GET /v1/store/check (read token): every entry in Redis that fails validation, checked now. While
 * `total` is above 0 the controller refuses writes (503 corrupt_state) and /readyz is 503.
 */
export function storeCheckApi({ guard }: { guard: StoreGuard }): Router {
  const r = Router();
  r.route("/v1/store/check")
    .get(accepts(), async (_req, res) => {
      const { problems, total, checkedAt } = await guard.check();
      res.json({ ok: total === 0, total, problems, checkedAt: new Date(checkedAt).toISOString() });
    })
    .all(methodNotAllowed(["GET"]));
  return r;
}
