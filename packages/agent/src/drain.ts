import type { IncomingMessage, Server, ServerResponse } from "node:http";

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
