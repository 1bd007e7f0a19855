import { Router } from "express";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { StoreLineage, type Keys, type StoreWriter } from "@switchyard/shared";
import { requireWrite } from "./auth.js";
import { ApiError, methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";

/**
 * `POST /v1/store/init?confirm=true`: start a fresh lineage on an uninitialised store. Starting
 * fresh drops the tables agents offered for a restore, so it is never implicit: a write token and
 * the confirmation flag, else 400. An initialised store is refused (409): this never wipes one.
 */
export function storeApi(deps: { redis: Redis; keys: Keys; writer: StoreWriter; log: Logger }): Router {
  const lineage = new StoreLineage(deps.redis, deps.keys);
  const r = Router();
  r.route("/v1/store/init")
    .post(accepts("confirm"), requireWrite, async (req, res) => {
      if (req.query.confirm !== "true") {
        throw new ApiError(400, "confirmation_required", "starting a fresh store drops the tables agents offered for a restore; repeat with ?confirm=true", "confirm");
      }
      const actor = req.principal?.name ?? "unknown";
      const result = await lineage.init(actor);
      if (!result.ok) throw new ApiError(409, "store_initialized", `the store is initialised (epoch ${result.epoch}); nothing was changed`);
      deps.writer.noteEpoch(result.epoch);
      deps.log.warn({ actor, epoch: result.epoch }, "store initialised fresh by an operator");
      res.json({ epoch: result.epoch, revision: 0 });
    })
    .all(methodNotAllowed(["POST"]));
  return r;
}
