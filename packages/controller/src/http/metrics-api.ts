import { Router } from "express";
import type { ControllerMetrics } from "../metrics.js";
import { methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";

/** Prometheus text exposition; mounted after authentication, so a scrape needs a read (or write) token. */
export function metricsApi({ metrics }: { metrics: ControllerMetrics }): Router {
  const r = Router();
  r.route("/metrics")
    .get(accepts(), async (_req, res) => {
      const body = await metrics.registry.metrics();
      res.setHeader("Cache-Control", "no-store").type(metrics.registry.contentType).send(body);
    })
    .all(methodNotAllowed(["GET"]));
  return r;
}
