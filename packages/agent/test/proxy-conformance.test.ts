import { createHttpProxyEngine } from "../src/serve/engine-http-proxy.js";
import { engineConformance } from "./proxy-conformance.js";

engineConformance("http-proxy", ({ upstreamTimeoutMs }) => createHttpProxyEngine({ upstreamTimeoutMs }));
