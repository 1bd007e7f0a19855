#!/usr/bin/env node
// Sample upstream for the demo and the end-to-end tests: answers "<color> <instance>" on every path.
//   COLOR=blue  INSTANCES=2  PORT=3001  HOST=127.0.0.1   -> blue-1 on 3001, blue-2 on 3002
//   COLOR=blue  PORTS=41001,41007                          -> blue-1 and blue-2 on exactly those ports
//   FAIL_RATE=0.5  answers 500 for that share of requests (canary rollback drills)
//   SOCKET=/run/app.sock  listens on a unix socket instead of TCP (INSTANCES must be 1)
import { createServer } from "node:http";

const color = process.env.COLOR ?? "blue";
const basePort = Number(process.env.PORT ?? 3001);
const ports = process.env.PORTS
  ? process.env.PORTS.split(",").map(Number)
  : Array.from({ length: Number(process.env.INSTANCES ?? 1) }, (_, i) => basePort + i);
const instances = ports.length;
const host = process.env.HOST ?? "127.0.0.1";
const failRate = Number(process.env.FAIL_RATE ?? 0);
const socket = process.env.SOCKET;

const servers = [];
for (let i = 1; i <= instances; i++) {
  const name = `${color}-${i}`;
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    n++;
    const fail = failRate > 0 && (n * failRate) % 1 < failRate;
    res.writeHead(fail ? 500 : 200, { "content-type": "text/plain", "x-app-color": color, "x-app-instance": name });
    res.end(`${fail ? "error from " : ""}${name}\n`);
  });
  server.keepAliveTimeout = 5000;
  const target = socket ?? ports[i - 1];
  server.listen(...(socket ? [socket] : [target, host]), () => {
    const addr = server.address();
    console.log(JSON.stringify({ app: name, listening: typeof addr === "string" ? `unix:${addr}` : `${addr.address}:${addr.port}` }));
  });
  servers.push(server);
}

const stop = () => {
  for (const s of servers) s.close();
  for (const s of servers) s.closeAllConnections();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
