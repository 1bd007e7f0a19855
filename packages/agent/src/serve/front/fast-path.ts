import type { Server } from "node:http";
import type { BlockList, Socket } from "node:net";
import type { Logger } from "pino";
import type { ForwardTarget } from "../engine.js";
import type { UpstreamPool } from "../h1/upstream-pool.js";
import type { RouteTable } from "../table.js";
import { FastConn } from "./fast-conn.js";

/**
 * The fast path in front of the edge's Node HTTP server: every accepted connection starts on a
 * FastConn, and moves to Node's own connection handler (the one http.createServer installed) the
 * first time it carries a request the fast path leaves to Node. The server stays the one that
 * listens, so Node's connection tracking, request timeouts and close() keep covering both kinds.
 */

/** What the fast path needs from the h1 engine: its per-target upstream pools. */
export interface PoolSource {
  pool(target: ForwardTarget): UpstreamPool;
  /** How long a client that stopped reading may hold its upstream connection. */
  readonly clientSendTimeoutMs: number;
}

export interface FastPathDeps {
  pools: PoolSource;
  getTable(): RouteTable | undefined;
  trusted: BlockList;
  log: Logger | undefined;
  onResult: ((upstream: string, status: number) => void) | undefined;
  keepAliveTimeoutMs: number;
}

type ConnectionListener = (this: Server, socket: Socket) => void;

/** Installs the fast path on `server`; false (and nothing changed) if Node's handler is not where expected. */
export function installFastPath(server: Server, deps: FastPathDeps): boolean {
  const listeners = server.listeners("connection");
  const nodeHandler = listeners[0] as ConnectionListener | undefined;
  if (listeners.length !== 1 || nodeHandler === undefined) return false;
  server.removeListener("connection", nodeHandler);

  const open = new Set<FastConn>();
  const seconds = Math.floor(deps.keepAliveTimeoutMs / 1000);
  const connDeps = {
    getTable: deps.getTable,
    pool: (target: ForwardTarget) => deps.pools.pool(target),
    trusted: deps.trusted,
    log: deps.log,
    onResult: deps.onResult,
    handoff(socket: Socket, unread: Buffer | undefined) {
      // Put back in front of the stream: Node's handler reads them first, before anything still in the kernel.
      if (unread !== undefined) socket.unshift(unread);
      nodeHandler.call(server, socket);
    },
    draining: () => !server.listening,
    keepAliveTimeoutMs: deps.keepAliveTimeoutMs,
    keepAliveHeader: `Connection: keep-alive\r\nKeep-Alive: timeout=${seconds}\r\n`,
    clientSendTimeoutMs: deps.pools.clientSendTimeoutMs,
    forget: (conn: FastConn) => open.delete(conn),
  };
  server.on("connection", (socket: Socket) => {
    open.add(new FastConn(socket, connDeps));
  });

  // The fast path's connections are this server's connections too: its own close methods (which
  // drain() and tests call) reach them, idle ones now and busy ones after their response.
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    for (const conn of open) if (conn.closeIfIdle()) open.delete(conn);
  };
  server.closeAllConnections = () => {
    closeAll();
    for (const conn of open) conn.destroy();
    open.clear();
  };
  return true;
}
