import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Logger } from "pino";

/**
 * Graceful stop for an HTTP server: stop accepting, let in-flight requests finish, close keep-alive
 * sockets as they go idle, and after `timeoutMs` close whatever is left. Requests that still
 * arrive on open keep-alive connections are served with `Connection: close`, so clients move on.
 * `force` runs at the deadline to cut what the server does not track (upgraded sockets).
 * Resolves when the server is fully closed; safe to call twice.
 */
export function drain(server: Server, timeoutMs: number, force: () => void = () => undefined): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    const closeAfter = (_req: IncomingMessage, res: ServerResponse) => res.setHeader("connection", "close");
    server.prependListener("request", closeAfter);
    // Connections that finish a response during the drain become idle; reap them promptly.
    const reap = setInterval(() => server.closeIdleConnections(), 50);
    // At the deadline: what is left is cut, upgraded (WebSocket) sockets included, which
    // closeAllConnections() does not reach and server.close() would otherwise wait for forever.
    const deadline = setTimeout(() => {
      server.closeAllConnections();
      force();
    }, timeoutMs);
    server.close(() => {
      clearInterval(reap);
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * SIGTERM and SIGINT run `stop` once, then exit 0. Backstop: whatever hangs past `backstopMs`
 * (the drain deadline plus time to deregister) ends the process with 1.
 */
export function stopOnSignals(stop: () => Promise<void>, backstopMs: number, log: Logger): void {
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    if (stopping) return;
    setTimeout(() => {
      log.error("shutdown did not finish in time; exiting");
      process.exit(1);
    }, backstopMs).unref();
    log.info({ signal }, "draining");
    stopping = stop().then(() => {
      log.info("stopped");
      process.exit(0);
    });
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}
