import { createHttpProxyEngine } from "../src/serve/engine-http-proxy.js";
import { createUndiciEngine } from "../src/serve/engine-undici.js";
import { engineConformance } from "./proxy-conformance.js";

engineConformance("undici", ({ upstreamTimeoutMs }) =>
  createUndiciEngine({ upstreamTimeoutMs, fallback: createHttpProxyEngine({ upstreamTimeoutMs }) }),
);
