import type { IncomingMessage, Server, ServerResponse } from "node:http";

/**
 * Graceful stop for an HTTP server: stop accepting, let in-flight requests finish, close keep-alive
 * sockets as they go idle, and after `timeoutMs` close whatever is left. Requests that still
 * arrive on open keep-alive connections are served with `Connection: close`, so clients move on.
 * Resolves when the server is fully closed; safe to call twice.
 */
export function drain(server: Server, timeoutMs: number): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    const closeAfter = (_req: IncomingMessage, res: ServerResponse) => res.setHeader("connection", "close");
    server.prependListener("request", closeAfter);
    // Connections that finish a response during the drain become idle; reap them promptly.
    const reap = setInterval(() => server.closeIdleConnections(), 50);
    const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
    server.close(() => {
      clearInterval(reap);
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
