// Child processes for the data-path section, in plain JavaScript so the measured process carries
// no TypeScript loader (its RSS and CPU are compared with the built agent's).
//   MODE=upstream          answers every request with a 100-byte body (the upstream, not measured);
//                          GET /__connections answers how many connections it has accepted
//   MODE=bare-http-proxy   minimal http-proxy server, keep-alive agent, static TARGET
//   MODE=bare-h1           the agent's serve path (built dist/) as the agent runs it: the fast path
//                          (serve/front/) in front of Node's door, h1 upstreams, with a static TARGET
//                          in place of the route table: no routing lookup and no counters
// Env: PORT, HOST (127.0.0.1), TARGET (host:port), KEEPALIVE (idle upstream connections, 64).
// Prints {"listening": port} once bound.
import { createServer, Agent } from "node:http";
import { createRequire } from "node:module";
import { BlockList } from "node:net";

// http-proxy is the agent's dependency; resolve it where the agent does.
const require = createRequire(new URL("../../agent/package.json", import.meta.url));
const mode = process.env.MODE;
const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 0);
const target = process.env.TARGET ?? "";
const keepalive = Number(process.env.KEEPALIVE ?? 64);

let handler;
let server;
let afterCreate = () => undefined;
if (mode === "upstream") {
  const body = Buffer.alloc(100, "x");
  body.write("switchyard bench upstream\n");
  // Connections accepted so far, at GET /__connections: how the bench counts a proxy's new upstream
  // connections when nginx (and its stub_status) is not installed.
  let accepted = 0;
  handler = (req, res) => {
    req.resume();
    if (req.url === "/__connections") return void res.end(String(accepted));
    res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
    res.end(body);
  };
  afterCreate = (server) => server.on("connection", () => accepted++);
} else if (mode === "bare-http-proxy") {
  const HttpProxy = require("http-proxy");
  // The keep-alive settings the agent's (retired) http-proxy engine used for a pool with keepalive 64.
  const agent = new Agent({ keepAlive: true, maxFreeSockets: keepalive, timeout: 4000, scheduling: "lifo" });
  const proxy = HttpProxy.createProxyServer({ target: `http://${target}`, agent });
  handler = (req, res) =>
    proxy.web(req, res, {}, () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
} else if (mode === "bare-h1") {
  const dist = new URL("../../agent/dist/serve/", import.meta.url);
  const { Upstreams } = await import(new URL("upstreams.js", dist).href);
  const { toTarget } = await import(new URL("table.js", dist).href);
  const { createProxyServer } = await import(new URL("front/listener.js", dist).href);
  const { pino } = require("pino");
  const upstreams = new Upstreams({ upstreamTimeoutMs: 30_000 });
  const forward = { address: toTarget(target), keepalive, upstreamLabel: target, pool: "bench" };
  // Every request resolves to the one target: the table's lookup is what "routing overhead" measures.
  const resolution = { kind: "target", forward };
  const constant = { revision: 1, resolve: () => resolution };
  // The agent's own listener, so the server is created here rather than below.
  server = createProxyServer({ table: { current: constant }, upstreams, trustedProxies: new BlockList(), log: pino({ level: "silent" }), fastPath: true });
} else {
  console.error(`unknown MODE ${mode}`);
  process.exit(2);
}

server ??= createServer(handler);
server.keepAliveTimeout = 5000;
afterCreate(server);
server.listen(port, host, () => console.log(JSON.stringify({ listening: server.address().port })));
const stop = () => {
  server.close();
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
