import express, { type Express } from "express";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Queue } from "bullmq";
import type { Keys, StoreHistory, StoreReader, StoreWriter } from "@switchyard/shared";
import type { CutoverRepo } from "./cutover/repo.js";
import type { CutoverJob } from "./cutover/queue.js";
import { cutoversApi } from "./http/cutovers-api.js";
import type { Token } from "./config.js";
import type { AckWatcher } from "./fleet/acks.js";
import { agentsApi } from "./http/agents-api.js";
import { authenticate } from "./http/auth.js";
import type { EventHub } from "./events/hub.js";
import { eventsApi } from "./http/events-api.js";
import { uiApi } from "./http/ui.js";
import { configApi } from "./http/config-api.js";
import { ApiError, errorHandler } from "./http/errors.js";
import { healthApi } from "./http/health.js";
import { historyApi } from "./http/history-api.js";
import { metricsApi } from "./http/metrics-api.js";
import { openapiApi } from "./http/openapi.js";
import { readApi } from "./http/read-api.js";
import { seedApi, seedMethodGuard } from "./http/seed-api.js";
import { stateApi } from "./http/state-api.js";
import type { ControllerMetrics } from "./metrics.js";

export interface AppDeps {
  redis: Redis;
  keys: Keys;
  acks: AckWatcher;
  repo: CutoverRepo;
  queue: Queue<CutoverJob>;
  reader: StoreReader;
  writer: StoreWriter;
  history: StoreHistory;
  metrics: ControllerMetrics;
  events: EventHub;
  tokens: Token[];
  log: Logger;
}

/** Builds the Express app; never listens, so tests drive it with supertest. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(healthApi(deps));
  app.use(openapiApi());
  // The dashboard's files hold no data: served before authentication, which happens in the page.
  app.use(uiApi());
  app.use(seedMethodGuard);
  app.use(authenticate(deps.tokens));
  app.use(metricsApi(deps));
  app.use(eventsApi(deps));
  // Before readApi: PUT /v1/state is here, GET /v1/state there.
  app.use(stateApi(deps));
  app.use(readApi(deps));
  app.use(historyApi(deps));
  app.use(configApi(deps));
  app.use(agentsApi(deps));
  app.use(cutoversApi(deps));
  app.use(seedApi(deps));
  app.use((req, _res, next) => next(new ApiError(404, "not_found", `no endpoint ${req.method} ${req.path}`)));
  app.use(errorHandler(deps.log));
  return app;
}
