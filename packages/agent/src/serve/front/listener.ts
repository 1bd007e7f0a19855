import type { Server } from "node:http";
import type { BlockList, Socket } from "node:net";
import type { Logger } from "pino";
import { createNodeDoor, SERVER_TIMEOUTS } from "../node-door.js";
import type { PassEnv, ResultReporter } from "../passes.js";
import type { TableSource } from "../table.js";
import type { Upstreams } from "../upstreams.js";
import { FastConn, type FastDeps } from "./fast-conn.js";

/**
 * The edge's listener: Node's HTTP server (node-door.ts) with the fast path in front of it. Every
 * accepted connection starts on a FastConn, and moves to Node's own connection handler the first
 * time it carries a request the fast path leaves to Node. The Node server stays the one that
 * listens, so its connection tracking, request timeouts and close() keep covering both kinds.
 * It never listens by itself; the caller binds it (and drains it on shutdown).
 */

export interface ProxyServerDeps {
  /** Where each request reads the current table (once per request); swapped by the sync layer, never mutated. */
  table: TableSource;
  upstreams: Upstreams;
  trustedProxies: BlockList;
  log: Logger;
  /**
   * Called once per HTTP request when its response is over, with the status the client got; 502 or
   * 504 when the upstream failed after the status line was sent; 499 when the client went away
   * first. Requests the edge answered itself (not ready, no route, bad request) are labelled "-".
   * WebSocket upgrades are not reported. The request comes as the passes left it (host, path,
   * target, route, revision, request id, start time): read it during the call, never keep it.
   */
  onResult?: ResultReporter;
  /** onResult reads each request's duration (metrics, access log): the passes stamp its start. */
  timed?: boolean;
  /** AGENT_FAST_PATH: plain bodiless requests are read and answered straight on the client socket. */
  fastPath: boolean;
  /** AGENT_UNDERSCORE_HEADERS (default "drop"). */
  underscores?: "drop" | "pass";
  /** AGENT_REVISION_HEADER: each response names the revision of the table that routed it. */
  revisionHeader?: string;
}

export function createProxyServer(deps: ProxyServerDeps): Server {
  const env: PassEnv = { table: deps.table, trusted: deps.trustedProxies, underscores: deps.underscores ?? "drop", timed: deps.timed === true };
  const revisionHeader = deps.revisionHeader?.toLowerCase();
  const server = createNodeDoor({ env, upstreams: deps.upstreams, log: deps.log, onResult: deps.onResult, revisionHeader });
  if (deps.fastPath && !installFastPath(server, deps, env, revisionHeader)) {
    deps.log.warn("fast path not installed: Node's HTTP server has an unexpected connection handler; every request takes Node's path");
  }
  return server;
}

type ConnectionListener = (this: Server, socket: Socket) => void;

/** Installs the fast path on `server`; false (and nothing changed) if Node's handler is not where expected. */
function installFastPath(server: Server, deps: ProxyServerDeps, env: PassEnv, revisionHeader: string | undefined): boolean {
  const listeners = server.listeners("connection");
  const nodeHandler = listeners[0] as ConnectionListener | undefined;
  if (listeners.length !== 1 || nodeHandler === undefined) return false;
  server.removeListener("connection", nodeHandler);

  const open = new Set<FastConn>();
  const keepAliveTimeoutMs = SERVER_TIMEOUTS.keepAliveTimeout;
  const upstreams = deps.upstreams;
  const connDeps: FastDeps = {
    env,
    pool: (target) => upstreams.pool(target),
    log: deps.log,
    onResult: deps.onResult,
    revisionHeader,
    handoff(socket: Socket, unread: Buffer | undefined) {
      // Put back in front of the stream: Node's handler reads them first, before anything still in the kernel.
      if (unread !== undefined) socket.unshift(unread);
      nodeHandler.call(server, socket);
    },
    draining: () => !server.listening,
    keepAliveTimeoutMs,
    keepAliveHeader: `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n`,
    clientSendTimeoutMs: upstreams.clientSendTimeoutMs,
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
