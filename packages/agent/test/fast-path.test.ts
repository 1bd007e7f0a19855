import assert from "node:assert/strict";
import { Agent } from "node:http";
import { connect, createServer as createNetServer, type Socket } from "node:net";
import { afterEach, describe, test } from "node:test";
import type { Server } from "node:http";
import { drain } from "../src/drain.js";
import { Servers, h1, listen, send, table, waitFor, type Handler } from "./proxy-fixture.js";

/**
 * The fast path in front of Node's HTTP server (serve/front/): which requests it answers itself,
 * how a connection moves to Node's server, and that both paths look the same from either side.
 */

/** The targets of requests that reached Node's server (its 'request' event; the fast path has none). */
function viaNodeOf(server: Server): string[] {
  const seen: string[] = [];
  server.on("request", (req: { url?: string }) => seen.push(req.url ?? ""));
  return seen;
}

/** Counts requests under way at an upstream, and the most at once. */
function concurrency(handler: Handler): { handler: Handler; most: () => number } {
  let now = 0;
  let most = 0;
  return {
    handler: (req, res, seen, up) => {
      most = Math.max(most, ++now);
      res.once("close", () => now--);
      handler(req, res, seen, up);
    },
    most: () => most,
  };
}

/** A client connection that keeps everything it receives. */
function wire(port: number): { socket: Socket; text: () => string; closed: () => boolean } {
  let text = "";
  let closed = false;
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
  socket.on("error", () => undefined);
  socket.on("close", () => (closed = true));
  return { socket, text: () => text, closed: () => closed };
}

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

/** Echoes method, URL and body; a URL with `slow` waits 30 ms first. */
const echo: Handler = (req, res, seen) => {
  req.on("end", () => {
    const body = `${seen.method} ${seen.url} ${seen.body}`;
    const answer = () => res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) }).end(body);
    if (seen.url.includes("slow")) setTimeout(answer, 30);
    else answer();
  });
};

describe("fast path", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  /** An upstream that answers every read with `answer` (raw bytes, for responses Node would not produce); its port. */
  async function rawUpstream(answer: (s: Socket) => void): Promise<number> {
    const up = servers.track(
      createNetServer((s) => {
        s.on("error", () => undefined);
        s.on("data", () => answer(s));
      }),
    );
    return listen(up);
  }

  async function setup(handler: Handler = echo) {
    const c = concurrency(handler);
    const up = await servers.upstream("a", c.handler);
    const p = await servers.proxy(h1(), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    return { up, p, viaNode: viaNodeOf(p.server), most: c.most };
  }

  test("answers pipelined GETs itself, in order, one at a time", async () => {
    const { p, viaNode, most } = await setup();
    const c = wire(p.port);
    c.socket.write("GET /slow/1 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /3 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    await waitFor(() => c.text().includes("GET /3 "), { what: "third response" });
    c.socket.destroy();
    const order = [...c.text().matchAll(/GET (\S+) /g)].map((m) => m[1]);
    assert.deepEqual(order, ["/slow/1", "/2", "/3"]);
    assert.equal(count(c.text(), /HTTP\/1\.1 200 OK\r\n/g), 3);
    assert.deepEqual(viaNode, []);
    assert.equal(most(), 1, "one request at a time at the upstream");
  });

  test("hands a request with a body to Node's server between two requests, and the connection stays there", async () => {
    const { up, p, viaNode } = await setup();
    const c = wire(p.port);
    c.socket.write(
      "GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n" + "POST /2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello" + "GET /3 HTTP/1.1\r\nHost: a.test\r\n\r\n",
    );
    await waitFor(() => c.text().includes("GET /3 "), { what: "third response" });
    c.socket.destroy();
    assert.deepEqual(
      up.requests.map((r) => `${r.method} ${r.url} ${r.body}`),
      ["GET /1 ", "POST /2 hello", "GET /3 "],
    );
    assert.deepEqual(viaNode, ["/2", "/3"]);
  });

  test("hands a head that arrives split across reads to Node's server, which answers it", async () => {
    const { p, viaNode } = await setup();
    let proxySide: Socket | undefined;
    p.server.once("connection", (s: Socket) => (proxySide = s));
    const c = wire(p.port);
    const first = "GET /split HTTP/1.1\r\nHo";
    c.socket.write(first);
    await waitFor(() => (proxySide?.bytesRead ?? 0) >= first.length, { what: "the proxy to read the first part" });
    c.socket.write("st: a.test\r\n\r\n");
    await waitFor(() => c.text().includes("GET /split "), { what: "response" });
    c.socket.destroy();
    assert.deepEqual(viaNode, ["/split"]);
  });

  test("answers requests it does not route (no route, no table yet) itself, as Node's server would", async () => {
    const up = await servers.upstream("a", echo);
    const p = await servers.proxy(h1(), undefined);
    const viaNode = viaNodeOf(p.server);
    assert.equal((await send({ port: p.port, host: "a.test" })).status, 503);
    p.setTable(table({ defaultUpstream: null, pools: {}, routes: { "a.test": { upstream: up.address } } }));
    assert.equal((await send({ port: p.port, host: "b.test" })).status, 404);
    assert.equal((await send({ port: p.port, host: "a.test", path: "/ok" })).status, 200);
    assert.deepEqual(viaNode, []);
    assert.deepEqual(p.results, [{ upstream: "-", status: 503 }, { upstream: "-", status: 404 }, { upstream: up.address, status: 200 }]);
  });

  test("honours a client's Connection: close: says so, then ends the connection", async () => {
    const { p, viaNode } = await setup();
    const c = wire(p.port);
    c.socket.write("GET /bye HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a.test\r\n\r\n");
    await waitFor(() => c.closed(), { what: "connection closed by the proxy" });
    assert.match(c.text(), /\r\nConnection: close\r\n/);
    assert.ok(!c.text().includes("/never"));
    assert.deepEqual(viaNode, []);
  });

  test("closes an idle keep-alive connection after the keep-alive timeout (5 s)", async () => {
    const { p } = await setup();
    const c = wire(p.port);
    c.socket.write("GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    await waitFor(() => c.text().includes("GET /1 "), { what: "response" });
    assert.match(c.text(), /\r\nKeep-Alive: timeout=5\r\n/);
    const t0 = performance.now();
    await waitFor(() => c.closed(), { what: "idle connection closed", timeoutMs: 9000 });
    const ms = performance.now() - t0;
    assert.ok(ms > 4000, `closed after ${ms.toFixed(0)} ms`);
  });

  test("drain: an idle connection closes at once; one in flight gets its response, with Connection: close", async () => {
    let release: (() => void) | undefined;
    const { p } = await setup((req, res) => {
      req.resume();
      if (req.url === "/hold") release = () => res.writeHead(200, { "content-length": "4" }).end("done");
      else res.writeHead(200, { "content-length": "2" }).end("ok");
    });
    const idle = wire(p.port);
    idle.socket.write("GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    await waitFor(() => idle.text().endsWith("ok"), { what: "first response" });
    const busy = wire(p.port);
    busy.socket.write("GET /hold HTTP/1.1\r\nHost: a.test\r\n\r\n");
    await waitFor(() => release !== undefined, { what: "held request at the upstream" });
    const drained = drain(p.server, 10_000);
    await waitFor(() => idle.closed(), { what: "idle connection closed" });
    assert.equal(busy.closed(), false);
    release?.();
    await drained;
    assert.match(busy.text(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\nConnection: close\r\n[\s\S]*done$/);
    await waitFor(() => busy.closed(), { what: "busy connection closed after its response" });
  });

  test("sends the upstream the same request, and the client the same response, as Node's path", async () => {
    const up = await servers.upstream("a", (req, res, seen) => {
      req.on("end", () => {
        if (seen.url === "/chunked") {
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("part1-");
          res.end("part2");
        } else if (seen.url === "/empty") res.writeHead(204, { "x-kind": "none" }).end();
        else if (seen.url === "/cookies") res.writeHead(200, [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["Content-Length", "2"]]).end("ok");
        else res.writeHead(200, { "content-length": "5", "x-served": seen.url }).end("hello");
      });
    });
    const engine = h1();
    const t = table({ defaultUpstream: up.address, pools: {}, routes: {} });
    const fast = await servers.proxy(engine, t);
    const node = await servers.proxy(engine, t, undefined, { fastPath: false });
    const cases: { path: string; method?: string; headers: Record<string, string> }[] = [
      { path: "/plain?q=1", headers: { accept: "text/plain", "x-forwarded-for": "9.9.9.9", "x-real-ip": "9.9.9.9", "x-forwarded-proto": "https" } },
      { path: "/chunked", headers: { "keep-alive": "timeout=1", te: "trailers" } },
      { path: "/empty", method: "DELETE", headers: {} },
      { path: "/head", method: "HEAD", headers: {} },
      { path: "/cookies", headers: { cookie: "x=y" } },
    ];
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    servers.defer(() => keepAlive.destroy());
    for (const c of cases) {
      const seenFrom = async (port: number) => {
        const before = up.requests.length;
        const reply = await send({ port, host: "a.test", path: c.path, method: c.method ?? "GET", headers: c.headers, agent: keepAlive });
        const seen = up.requests[before];
        const { date: _d, ...headers } = reply.headers;
        // Each request gets its own generated X-Request-Id: compared by shape, not value.
        const rawHeaders = seen?.rawHeaders.map((v, i, a) => (i % 2 === 1 && a[i - 1] === "x-request-id" && /^[0-9a-f]{12}-[0-9a-z]+$/.test(v) ? "<generated>" : v));
        return { reply: { ...reply, headers }, upstream: { method: seen?.method, url: seen?.url, rawHeaders } };
      };
      const a = await seenFrom(fast.port);
      const b = await seenFrom(node.port);
      assert.deepEqual(a, b, `${c.method ?? "GET"} ${c.path}`);
    }
  });

  test("keeps one exchange at a time when pipelined requests overflow its read-ahead while one is under way", async () => {
    let release: (() => void) | undefined;
    const { p, most } = await setup((req, res, seen) => {
      req.resume();
      const body = `GET ${seen.url} `;
      const answer = () => res.writeHead(200, { "content-length": Buffer.byteLength(body) }).end(body);
      if (seen.url === "/held") release = answer;
      else answer();
    });
    let proxySide: Socket | undefined;
    p.server.once("connection", (s: Socket) => (proxySide = s));
    const c = wire(p.port);
    const one = (u: string) => `GET ${u} HTTP/1.1\r\nHost: a.test\r\n\r\n`;
    let flood = one("/held");
    for (let i = 1; i <= 500; i++) flood += one(`/p${i}`);
    c.socket.write(flood);
    await waitFor(() => release !== undefined, { what: "held request at the upstream" });
    // Over 16 KiB read ahead behind a busy exchange: the proxy stops reading...
    c.socket.write(one("/late1"));
    await waitFor(() => proxySide?.isPaused(), { what: "the proxy to stop reading" });
    // ...so these wait in the socket, and arrive only as the held response completes.
    c.socket.write(one("/late2") + one("/late3"));
    release?.();
    await waitFor(() => c.text().includes("GET /late3 "), { what: "last response", timeoutMs: 10_000 });
    c.socket.destroy();
    const order = [...c.text().matchAll(/GET (\S+) /g)].map((m) => m[1]);
    assert.deepEqual(order, ["/held", ...Array.from({ length: 500 }, (_, i) => `/p${i + 1}`), "/late1", "/late2", "/late3"]);
    assert.equal(most(), 1, "never two requests at the upstream at once");
    assert.equal(p.results.length, 504);
  });

  test("stops reading a pipelining client that does not read its responses: the proxy's buffer stays bounded", async () => {
    const body = "x".repeat(4000);
    const { p } = await setup((req, res) => {
      req.resume();
      res.writeHead(200, { "content-length": body.length }).end(body);
    });
    let proxySide: Socket | undefined;
    p.server.once("connection", (s: Socket) => (proxySide = s));
    const c = connect(p.port, "127.0.0.1");
    c.on("error", () => undefined);
    c.pause();
    servers.defer(() => c.destroy());
    // 5 000 requests (20 MB of responses), written as the client's own socket lets them go.
    const batch = "GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n".repeat(100);
    for (let i = 0; i < 50; i++) if (!c.write(batch)) await new Promise((r) => c.once("drain", r)).catch(() => undefined);
    let last = -1;
    await waitFor(
      () => {
        const n = p.results.length;
        const same = n === last;
        last = n;
        return same && n > 0;
      },
      { what: "the proxy to stop answering", intervalMs: 200, timeoutMs: 10_000 },
    );
    assert.ok(p.results.length < 5000, `${p.results.length} of 5000 answered to a client that reads nothing`);
    assert.ok((proxySide?.writableLength ?? 0) < 1024 * 1024, `proxy holds ${proxySide?.writableLength} bytes for the client`);
  });

  test("answers a HEAD whose upstream fails with a 502 head and no body, so the next response stays framed", async () => {
    const port = await rawUpstream((s) => s.end("garbage\r\n\r\n"));
    const p = await servers.proxy(h1(), table({ defaultUpstream: `127.0.0.1:${port}`, pools: {}, routes: {} }));
    const c = wire(p.port);
    c.socket.write("HEAD /1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    await waitFor(() => c.text().includes("\r\n\r\n"), { what: "502 head" });
    c.socket.destroy();
    assert.match(c.text(), /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*content-length: \d+\r\n/);
    assert.ok(c.text().endsWith("\r\n\r\n"), `a body followed the head: ${JSON.stringify(c.text())}`);
  });

  test("passes a body whose Transfer-Encoding lines leave gzip final as bytes until close, as Node's path does", async () => {
    const port = await rawUpstream((s) => s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    const engine = h1();
    const t = table({ defaultUpstream: `127.0.0.1:${port}`, pools: {}, routes: {} });
    const replies: string[] = [];
    for (const fastPath of [true, false]) {
      const p = await servers.proxy(engine, t, undefined, { fastPath });
      const c = wire(p.port);
      c.socket.write("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
      await waitFor(() => c.closed(), { what: `connection closed (fast path ${fastPath})` });
      replies.push(c.text().replace(/Date: [^\r]*\r\n/i, ""));
    }
    assert.equal(replies[0], "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nhello");
    assert.equal(replies[0], replies[1]);
  });

  test("leaves CONNECT and methods outside the usual set to Node's server", async () => {
    const { up, p, viaNode } = await setup();
    for (const method of ["CONNECT", "FOO", "PROPFIND"]) {
      const c = wire(p.port);
      c.socket.write(`${method} /m HTTP/1.1\r\nHost: a.test\r\n\r\n`);
      await waitFor(() => c.closed() || c.text().includes("\r\n\r\n"), { what: `${method} answered or refused` });
      c.socket.destroy();
    }
    // Node refuses CONNECT with a path and FOO outright; PROPFIND it accepts and forwards.
    assert.deepEqual(up.requests.map((r) => r.method), ["PROPFIND"]);
    assert.deepEqual(viaNode, ["/m"]);
  });
});
