import { createServer, request as httpRequest, type Agent, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { BlockList } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { State } from "@switchyard/shared";
import { waitFor } from "@switchyard/testkit";
import { createProxyServer } from "../src/serve/front/listener.js";
import { compileTable, type RouteTable } from "../src/serve/table.js";
import { Upstreams } from "../src/serve/upstreams.js";

/** Shared helpers for the proxy tests: real servers on loopback, port 0, closed after each test. */

export const silent = pino({ level: "silent" });

export const state = (s: unknown): State => State.parse(s);

export function listen(server: Server | NetServer, where: string | { host?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    };
    if (typeof where === "string") server.listen(where, done);
    else server.listen(0, where.host ?? "127.0.0.1", done);
  });
}

export function closeServer(server: Server | NetServer): Promise<void> {
  return new Promise((resolve) => {
    if ("closeAllConnections" in server) server.closeAllConnections();
    server.close(() => resolve());
  });
}

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface Upstream {
  readonly name: string;
  readonly address: string;
  readonly server: Server;
  /** Connections ever accepted. */
  connections: number;
  /** Connections open right now. */
  open: number;
  requests: Seen[];
  /** Sockets the upstream's HTTP parser rejected: a smuggled request shows up here. */
  clientErrors: string[];
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen, up: Upstream) => void;

const echo: Handler = (_req, res, _seen, up) => {
  res.writeHead(200, { "content-type": "text/plain" }).end(up.name);
};

export class Servers {
  private readonly toClose: (Server | NetServer)[] = [];
  private readonly cleanups: (() => unknown)[] = [];
  private readonly engines: Upstreams[] = [];

  /** An HTTP upstream that records every request and connection; answers its name unless told otherwise. */
  async upstream(name: string, handler: Handler = echo, opts: { unixDir?: string; host?: string } = {}): Promise<Upstream> {
    const server = createServer();
    const up: Upstream = { name, address: "", server, connections: 0, open: 0, requests: [], clientErrors: [] };
    server.on("connection", (s: Socket) => {
      up.connections++;
      up.open++;
      s.once("close", () => up.open--);
    });
    server.on("clientError", (err: NodeJS.ErrnoException, s) => {
      up.clientErrors.push(err.code ?? err.message);
      s.destroy();
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      const seen: Seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, rawHeaders: req.rawHeaders, body: "" };
      up.requests.push(seen);
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.body = Buffer.concat(chunks).toString();
      });
      handler(req, res, seen, up);
    });
    this.toClose.push(server);
    if (opts.unixDir) {
      const path = join(opts.unixDir, `${name}.sock`);
      await listen(server, path);
      return Object.assign(up, { address: `unix:${path}` });
    }
    const port = await listen(server, { host: opts.host ?? "127.0.0.1" });
    return Object.assign(up, { address: `${opts.host ?? "127.0.0.1"}:${port}` });
  }

  async tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "sy-proxy-"));
    this.cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /**
   * A proxy server over `engine`, serving `table` (swappable), with every onResult recorded: with
   * the fast path in front, as the agent runs it, unless `fastPath` is false.
   */
  async proxy(
    engine: Upstreams,
    table: RouteTable | undefined,
    trusted = new BlockList(),
    opts: { fastPath?: boolean; underscores?: "drop" | "pass"; revisionHeader?: string } = {},
  ) {
    let current = table;
    let reads = 0;
    const results: { upstream: string; status: number }[] = [];
    const server = createProxyServer({
      table: {
        get current() {
          reads++;
          return current;
        },
      },
      upstreams: engine,
      trustedProxies: trusted,
      log: silent,
      onResult: (upstream, status) => results.push({ upstream, status }),
      fastPath: opts.fastPath !== false,
      ...(opts.underscores ? { underscores: opts.underscores } : {}),
      ...(opts.revisionHeader ? { revisionHeader: opts.revisionHeader } : {}),
    });
    const port = await listen(server);
    this.toClose.push(server);
    this.engines.push(engine);
    return {
      server,
      port,
      results,
      reads: () => reads,
      setTable(t: RouteTable | undefined) {
        current = t;
      },
    };
  }

  /** Runs `fn` at closeAll, after the servers are closed. */
  defer(fn: () => unknown): void {
    this.cleanups.push(fn);
  }

  /**
   * A raw TCP upstream that answers each request head by `script`, for responses Node's server would
   * never produce; records every request head and connection.
   */
  async scripted(script: Script) {
    const stats = { connections: 0, open: 0, requests: [] as string[], sockets: [] as Socket[] };
    const server = this.track(
      createNetServer((s: Socket) => {
        const c = stats.connections++;
        stats.sockets.push(s);
        stats.open++;
        s.once("close", () => stats.open--);
        s.on("error", () => undefined);
        let n = 0;
        let buf = "";
        s.on("data", (d: Buffer) => {
          buf += d.toString("latin1");
          let end: number;
          while ((end = buf.indexOf("\r\n\r\n")) >= 0) {
            const request = buf.slice(0, end);
            buf = buf.slice(end + 4);
            stats.requests.push(request);
            const act = script(c, n++, request);
            if (act === "drop") {
              s.destroy();
              return;
            }
            if (act === "silent") continue;
            if (act.then === "close") s.end(act.reply);
            else s.write(act.reply);
            const later = act.later;
            if (later !== undefined) setTimeout(() => s.writable && s.write(later.bytes), later.ms);
          }
        });
      }),
    );
    const port = await listen(server);
    return { address: `127.0.0.1:${port}`, stats };
  }

  track<T extends Server | NetServer>(server: T): T {
    this.toClose.push(server);
    return server;
  }

  /** Engines first: their pooled keep-alive sockets would otherwise hold the upstreams' close open. */
  async closeAll(): Promise<void> {
    for (const e of this.engines.splice(0)) e.close();
    for (const s of this.toClose.splice(0).reverse()) await closeServer(s);
    for (const c of this.cleanups.splice(0).reverse()) await c();
  }
}

/**
 * What a scripted upstream does with the n-th request head (0-based) on its c-th connection: a reply
 * (then close, or keep the connection; `later` bytes follow after `ms`), drop the connection, or stay silent.
 */
export type Script = (c: number, n: number, head: string) => { reply: string; then?: "close" | "keep"; later?: { ms: number; bytes: string } } | "drop" | "silent";

/** A well-framed 200 whose body is `body`. */
export const ok200 = (body: string, extra = "") => ({ reply: `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}` });

/** The two front doors every request rule must hold on: the fast path, and Node's HTTP server alone. */
export const DOORS = [
  ["fast path", true],
  ["Node's server", false],
] as const;

/** The agent's upstreams (h1 pools, WebSocket upgrades) as the tests build them. */
export const h1 = (upstreamTimeoutMs = 30_000, more: { clientSendTimeoutMs?: number } = {}): Upstreams => new Upstreams({ upstreamTimeoutMs, ...more });

/**
 * Waits long enough for released upstream connections to cool: they are reusable after two turns of
 * the pool's 1 ms timer (upstream-policy.ts COOLING_TURNS). Each 2 ms sleep spans at least one of its
 * turns, even on a loaded machine, so `n` sleeps cover `n` turns.
 */
export async function loopTurns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** A table over one State, revision 1. */
export const table = (s: unknown, random?: () => number) => compileTable(state(s), 1, random ? { random } : {});

/** A table over one State at a given revision. */
export const tableAt = (revision: number, s: unknown) => compileTable(state(s), revision);

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Req {
  port: number;
  path?: string;
  method?: string;
  host?: string;
  headers?: Record<string, string | string[]>;
  body?: string;
  localAddress?: string;
  agent?: Agent | false;
}

/** One HTTP request over its own connection unless an agent is given. */
export function send(r: Req): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...(r.headers ?? {}) };
    if (r.host !== undefined) headers.host = r.host;
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port: r.port,
        path: r.path ?? "/",
        method: r.method ?? "GET",
        headers,
        agent: r.agent ?? false,
        ...(r.localAddress ? { localAddress: r.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(r.body);
  });
}

/**
 * Writes raw bytes and collects everything until the server closes the connection; for requests
 * Node's client refuses to produce (duplicate Host, chunked DELETE, malformed lines).
 */
export function raw(port: number, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(port, "127.0.0.1", () => s.write(text));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString())}`));
    }, timeoutMs);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
  });
}

/** Asserts the body is the edge's JSON error shape and returns it. */
export function errorBody(body: string): { error: string; message: string } {
  const parsed = JSON.parse(body) as { error: string; message: string };
  if (Object.keys(parsed).sort().join(",") !== "error,message") throw new Error(`unexpected error body ${body}`);
  if (/\n\s+at |Error:/.test(parsed.message)) throw new Error(`error body leaks internals: ${body}`);
  return parsed;
}

export { waitFor };
