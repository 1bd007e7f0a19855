import { createH1Engine } from "../src/serve/engine-h1.js";
import { createHttpProxyEngine } from "../src/serve/engine-http-proxy.js";
import { engineConformance } from "./proxy-conformance.js";

engineConformance("h1", ({ upstreamTimeoutMs }) =>
  createH1Engine({ upstreamTimeoutMs, fallback: createHttpProxyEngine({ upstreamTimeoutMs }) }),
);
