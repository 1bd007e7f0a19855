import { engineConformance } from "./proxy-conformance.js";

// As the agent runs it: plain bodiless requests on the fast path, the rest through Node's server.
engineConformance("h1 with the fast path", { fastPath: true });

// AGENT_FAST_PATH=off: every request through Node's server.
engineConformance("h1 behind Node's server only", { fastPath: false });
