// Preloaded into an agent process (node --import) by the routing section: measures that process's
// event-loop delay with perf_hooks.monitorEventLoopDelay (1 ms resolution) and serves it on
// 127.0.0.1:ELD_PORT. GET /reset starts a window; GET /read returns it (ms). The agent's own code
// is untouched; the listener is unref'd so it never keeps the process alive.
import { createServer } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";

const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
const server = createServer((req, res) => {
  if (req.url === "/reset") h.reset();
  const ms = (ns) => (Number.isFinite(ns) ? ns / 1e6 : 0);
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), count: h.count }));
});
server.listen(Number(process.env.ELD_PORT), "127.0.0.1");
server.unref();
