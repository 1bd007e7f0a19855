import { createH1Engine } from "../src/serve/engine-h1.js";
import { createHttpProxyEngine } from "../src/serve/engine-http-proxy.js";
import type { ForwardEngine } from "../src/serve/engine.js";
import { engineConformance } from "./proxy-conformance.js";

// As the agent runs it: plain bodiless requests on the fast path, the rest through Node's server.
engineConformance("h1", ({ upstreamTimeoutMs }) =>
  createH1Engine({ upstreamTimeoutMs, fallback: createHttpProxyEngine({ upstreamTimeoutMs }) }),
);

// AGENT_FAST_PATH=off: every request through Node's server. The engine without its pools is what
// the proxy server sees then.
engineConformance("h1 behind Node's server only", ({ upstreamTimeoutMs }) => {
  const { pool: _pool, clientSendTimeoutMs: _t, ...engine } = createH1Engine({ upstreamTimeoutMs, fallback: createHttpProxyEngine({ upstreamTimeoutMs }) });
  return engine satisfies ForwardEngine;
});
