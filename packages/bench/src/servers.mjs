// Child processes for the data-path section, in plain JavaScript so the measured process carries
// no TypeScript loader (its RSS and CPU are compared with the built agent's).
//   MODE=upstream          answers every request with a 100-byte body (the upstream, not measured);
//                          GET /__connections answers how many connections it has accepted
//   MODE=bare-http-proxy   minimal http-proxy server, keep-alive agent, static TARGET
//   MODE=bare-undici       minimal undici forwarder (one Pool, dispatch handler), static TARGET
//   MODE=bare-h1           the agent's h1 engine (built dist/) as the agent runs it, fast path
//                          (serve/front/) in front of a plain http server, with a static TARGET in
//                          place of the route table: no routing lookup and no counters
// Env: PORT, HOST (127.0.0.1), TARGET (host:port), KEEPALIVE (idle upstream connections, 64).
// Prints {"listening": port} once bound.
import { createServer, Agent } from "node:http";
import { createRequire } from "node:module";
import { BlockList } from "node:net";

// http-proxy and undici are the agent's dependencies; resolve them where the agent does.
const require = createRequire(new URL("../../agent/package.json", import.meta.url));
const mode = process.env.MODE;
const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 0);
const target = process.env.TARGET ?? "";
const keepalive = Number(process.env.KEEPALIVE ?? 64);
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"]);

let handler;
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
  // The same agent settings the agent's http-proxy engine uses for a pool with keepalive 64.
  const agent = new Agent({ keepAlive: true, maxFreeSockets: keepalive, timeout: 4000, scheduling: "lifo" });
  const proxy = HttpProxy.createProxyServer({ target: `http://${target}`, agent });
  handler = (req, res) =>
    proxy.web(req, res, {}, () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
} else if (mode === "bare-undici") {
  const { Pool } = require("undici");
  // The same pool settings the agent's undici engine uses (unbounded connections, no pipelining, 4 s idle).
  const pool = new Pool(`http://${target}`, { connections: null, pipelining: 1, keepAliveTimeout: 4000, keepAliveMaxTimeout: 4000 });
  handler = (req, res) => {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    pool.dispatch(
      { path: req.url, method: req.method, headers, body: hasBody ? req : null },
      {
        onRequestStart() {},
        onResponseStart(_c, status, h) {
          const out = {};
          for (const [k, v] of Object.entries(h)) if (!HOP.has(k)) out[k] = v;
          res.writeHead(status, out);
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) {
            c.pause();
            res.once("drain", () => c.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError(_c, _err) {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        },
      },
    );
  };
} else if (mode === "bare-h1") {
  const dist = new URL("../../agent/dist/serve/", import.meta.url);
  const { createH1Engine } = await import(new URL("engine-h1.js", dist).href);
  const { createHttpProxyEngine } = await import(new URL("engine-http-proxy.js", dist).href);
  const { toTarget } = await import(new URL("engine.js", dist).href);
  const { installFastPath } = await import(new URL("front/fast-path.js", dist).href);
  const engine = createH1Engine({ upstreamTimeoutMs: 30_000, fallback: createHttpProxyEngine({ upstreamTimeoutMs: 30_000 }) });
  const forwardTarget = { address: toTarget(target), keepalive, upstreamLabel: target };
  handler = (req, res) => engine.forward(req, res, forwardTarget);
  // Every request resolves to the one target: the table's lookup is what "routing overhead" measures.
  const resolution = { kind: "target", forward: forwardTarget };
  const constant = { resolve: () => resolution };
  afterCreate = (server) => {
    installFastPath(server, { pools: engine, getTable: () => constant, trusted: new BlockList(), log: undefined, onResult: undefined, keepAliveTimeoutMs: 5000 });
  };
} else {
  console.error(`unknown MODE ${mode}`);
  process.exit(2);
}

const server = createServer(handler);
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
