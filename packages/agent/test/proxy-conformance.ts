import assert from "node:assert/strict";
import { Agent, request as httpRequest, type ClientRequest } from "node:http";
import { connect, createServer as createNetServer, type Socket } from "node:net";
import { afterEach, describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { freePort } from "@switchyard/testkit";
import { toTarget } from "../src/serve/table.js";
import { Servers, errorBody, h1, listen, loopTurns, raw, send, table, waitFor } from "./proxy-fixture.js";

/**
 * What the edge's serve path must do, run against real sockets through createProxyServer, in each
 * configuration the agent can run (proxy-conformance-h1.test.ts registers them: the fast path in
 * front of Node's server, and Node's server alone). Timeouts are per test so the 504 case can be
 * fast while the abort cases cannot be rescued by a timeout firing instead.
 */

const LONG = 60_000;
const HANDSHAKE =
  "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

export function engineConformance(name: string, opts: { fastPath: boolean }): void {
  describe(`${name} conformance`, () => {
    const servers = new Servers();
    afterEach(() => servers.closeAll());

    const proxyTo = async (upstream: string, o: { timeoutMs?: number; keepalive?: number } = {}) => {
      const pool = { targets: [{ address: upstream }], ...(o.keepalive === undefined ? {} : { keepalive: o.keepalive }) };
      const engine = h1(o.timeoutMs ?? LONG);
      const p = await servers.proxy(engine, table({ defaultUpstream: "app", pools: { app: pool }, routes: {} }), undefined, { fastPath: opts.fastPath });
      return { ...p, engine };
    };

    test("forwards method, path, query, body and the client's Host unchanged", async () => {
      const up = await servers.upstream("a");
      const p = await proxyTo(up.address);
      const r = await send({ port: p.port, method: "PUT", path: "/x/y?q=1&r=%20", host: "Shop.Example:8080", body: "payload" });
      assert.equal(r.status, 200);
      assert.equal(r.body, "a");
      const seen = up.requests[0];
      assert.ok(seen);
      await waitFor(() => seen.body === "payload", { what: "upstream read the body" });
      assert.equal(seen.method, "PUT");
      assert.equal(seen.url, "/x/y?q=1&r=%20");
      assert.equal(seen.headers.host, "Shop.Example:8080");
    });

    // A released connection cools 1-2 ms before it is reused (upstream-policy.ts COOLING_TURNS), so a
    // client that sends its next request within that time is served on another one: a handful carry
    // them all, nowhere near one per request.
    test("reuses upstream connections: 200 sequential requests open at most 16", async () => {
      const up = await servers.upstream("a");
      const p = await proxyTo(up.address);
      const client = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < 200; i++) assert.equal((await send({ port: p.port, agent: client })).status, 200);
      } finally {
        client.destroy();
      }
      assert.equal(up.requests.length, 200);
      assert.ok(up.connections <= 16, `${up.connections} upstream connections for 200 requests`);
    });

    test("drops an idle upstream connection after ~4 s, before the upstream's 5 s keep-alive default", async () => {
      const up = await servers.upstream("a");
      up.server.keepAliveTimeout = 60_000;
      let closedAt = 0;
      up.server.once("connection", (s: Socket) => s.once("close", () => (closedAt = Date.now())));
      const p = await proxyTo(up.address);
      await send({ port: p.port });
      const idleFrom = Date.now();
      await waitFor(() => closedAt > 0, { what: "idle upstream connection closed", timeoutMs: 8000, intervalMs: 50 });
      const idle = closedAt - idleFrom;
      assert.ok(idle >= 3500 && idle < 5000, `closed after ${idle} ms idle`);
    });

    test("forwards a request sent with Expect: 100-continue", async () => {
      const up = await servers.upstream("a", (req, res) => req.on("end", () => res.end("got")).resume());
      const p = await proxyTo(up.address);
      const r = await send({ port: p.port, method: "POST", headers: { expect: "100-continue" }, body: "data" });
      assert.equal(r.status, 200);
      await waitFor(() => up.requests[0]?.body === "data", { what: "body at the upstream" });
    });

    test("opens a fresh upstream connection per request when the pool's keepalive is 0", async () => {
      const up = await servers.upstream("a");
      const p = await proxyTo(up.address, { keepalive: 0 });
      for (let i = 0; i < 5; i++) assert.equal((await send({ port: p.port })).status, 200);
      assert.equal(up.connections, 5);
      await waitFor(() => up.open === 0, { what: "upstream connections closed after use" });
    });

    test("forwards to a unix socket upstream", async () => {
      const up = await servers.upstream("sock", undefined, { unixDir: await servers.tempDir() });
      const p = await proxyTo(up.address);
      const r = await send({ port: p.port, path: "/over/unix" });
      assert.equal(r.status, 200);
      assert.equal(r.body, "sock");
      assert.equal(up.requests[0]?.url, "/over/unix");
    });

    test("answers 502 bad_gateway as JSON when the upstream refuses the connection", async () => {
      const p = await proxyTo(`127.0.0.1:${await freePort()}`);
      const r = await send({ port: p.port });
      assert.equal(r.status, 502);
      assert.match(String(r.headers["content-type"]), /application\/json/);
      assert.equal(errorBody(r.body).error, "bad_gateway");
      await waitFor(() => p.results.length === 1, { what: "result reported" });
      assert.deepEqual(p.results, [{ upstream: "app", status: 502 }]);
    });

    test("answers 504 gateway_timeout when the upstream never answers", async () => {
      const up = await servers.upstream("mute", () => undefined);
      const p = await proxyTo(up.address, { timeoutMs: 200 });
      const r = await send({ port: p.port });
      assert.equal(r.status, 504);
      assert.equal(errorBody(r.body).error, "gateway_timeout");
      await waitFor(() => up.open === 0, { what: "timed-out upstream socket closed" });
    });

    test("cuts the client connection when the upstream dies after the status line", async () => {
      const up = await servers.upstream("dies", (_req, res) => {
        res.writeHead(200, { "content-length": "100" });
        res.write("partial", () => res.socket?.destroy());
      });
      const p = await proxyTo(up.address);
      await assert.rejects(send({ port: p.port }), /aborted|ECONNRESET|socket hang up/);
      await waitFor(() => p.results.length === 1, { what: "result reported" });
      assert.deepEqual(p.results, [{ upstream: "app", status: 502 }]);
    });

    test("(a) forwards a chunked DELETE with its chunked body, not rewritten to Content-Length: 0", async () => {
      const up = await servers.upstream("a", (req, res) => req.on("end", () => res.end("deleted")).resume());
      const p = await proxyTo(up.address);
      const reply = await raw(
        p.port,
        "DELETE /items/1 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
          "5\r\nhello\r\n0\r\n\r\n",
      );
      assert.match(reply, /^HTTP\/1\.1 200 /);
      await waitFor(() => up.requests[0]?.body === "hello", { what: "upstream received the chunked body" });
      const seen = up.requests[0];
      assert.equal(seen?.method, "DELETE");
      assert.equal(seen?.headers["transfer-encoding"], "chunked");
      assert.equal(seen?.headers["content-length"], undefined);
      assert.equal(up.requests.length, 1, "the body must not be parsed as a second request");
      assert.deepEqual(up.clientErrors, []);
    });

    test("(b) closes all 50 upstream sockets when 50 waiting clients abort", async () => {
      const up = await servers.upstream("slow", () => undefined);
      const p = await proxyTo(up.address);
      const clients: ClientRequest[] = [];
      for (let i = 0; i < 50; i++) {
        const c = httpRequest({ host: "127.0.0.1", port: p.port, path: `/slow/${i}`, agent: false });
        c.on("error", () => undefined);
        c.end();
        clients.push(c);
      }
      await waitFor(() => up.requests.length === 50, { what: "50 requests at the upstream", timeoutMs: 10_000 });
      assert.equal(up.open, 50);
      for (const c of clients) c.destroy();
      await waitFor(() => up.open === 0, { what: "all 50 upstream sockets closed", timeoutMs: 5_000 });
      await waitFor(() => p.results.length === 50, { what: "50 results" });
      assert.ok(p.results.every((r) => r.status === 499));
    });

    test("(c) strips hop-by-hop headers, and those named in Connection, from the request", async () => {
      const up = await servers.upstream("a");
      const p = await proxyTo(up.address);
      // Raw, because Node's client refuses to send a Trailer field without chunked encoding.
      const reply = await raw(
        p.port,
        "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close, X-Secret, x-other\r\nX-Secret: 1\r\nX-Other: 2\r\n" +
          "Keep-Alive: timeout=77\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: x-checksum\r\n" +
          "Upgrade: h2c\r\nX-Kept: yes\r\n\r\n",
      );
      assert.match(reply, /^HTTP\/1\.1 200 /);
      const h = up.requests[0]?.headers ?? {};
      for (const name of ["x-secret", "x-other", "proxy-connection", "te", "trailer", "upgrade"]) assert.equal(h[name], undefined, name);
      assert.notEqual(h["keep-alive"], "timeout=77");
      assert.doesNotMatch(String(h.connection ?? ""), /x-secret|x-other|close/i);
      assert.equal(h["x-kept"], "yes");
    });

    test("(c) strips hop-by-hop headers, and those named in Connection, from the response", async () => {
      // A raw upstream, so the response carries exactly these fields.
      const upstream = servers.track(
        createNetServer((s: Socket) => {
          s.once("data", () =>
            s.write(
              "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nKeep-Alive: timeout=77, max=9\r\n" +
                "X-Internal: secret\r\nProxy-Connection: keep-alive\r\nTrailer: x-sum\r\nUpgrade: foo\r\n" +
                "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nok",
            ),
          );
        }),
      );
      const port = await listen(upstream);
      const p = await proxyTo(`127.0.0.1:${port}`);
      const r = await send({ port: p.port });
      assert.equal(r.status, 200);
      assert.equal(r.body, "ok");
      for (const name of ["x-internal", "proxy-connection", "trailer", "upgrade"]) assert.equal(r.headers[name], undefined, name);
      assert.notEqual(r.headers["keep-alive"], "timeout=77, max=9");
      assert.doesNotMatch(String(r.headers.connection ?? ""), /x-internal/i);
      assert.equal(r.headers["x-public"], "yes");
      assert.deepEqual(r.headers["set-cookie"], ["a=1", "b=2"]);
    });

    test("(d) replaces a client's X-Forwarded-For and X-Real-IP from an untrusted peer", async () => {
      const up = await servers.upstream("a");
      const p = await proxyTo(up.address);
      await send({ port: p.port, headers: { "x-forwarded-for": "6.6.6.6", "x-real-ip": "6.6.6.6" } });
      const h = up.requests[0]?.headers ?? {};
      assert.equal(h["x-forwarded-for"], "127.0.0.1");
      assert.equal(h["x-real-ip"], "127.0.0.1");
    });

    test("echoes WebSocket messages through the proxy and closes the upstream with the client", async () => {
      const up = await servers.upstream("ws", (_req, res) => res.end("plain"));
      const wss = new WebSocketServer({ server: up.server });
      wss.on("connection", (sock) => sock.on("message", (m, binary) => sock.send(m, { binary })));
      servers.defer(() => wss.close());
      const p = await proxyTo(up.address);
      const client = new WebSocket(`ws://127.0.0.1:${p.port}/chat`);
      const got: string[] = [];
      client.on("message", (m: Buffer) => got.push(m.toString()));
      await new Promise<void>((resolve, reject) => {
        client.once("open", () => resolve());
        client.once("error", reject);
      });
      client.send("hello");
      client.send("again");
      await waitFor(() => got.length === 2, { what: "two echoes" });
      assert.deepEqual(got, ["hello", "again"]);
      client.terminate();
      await waitFor(() => up.open === 0, { what: "upstream websocket socket closed" });
    });

    test("keeps an idle WebSocket open past the upstream timeout, which only bounds the handshake", async () => {
      const up = await servers.upstream("ws", (_req, res) => res.end("plain"));
      const wss = new WebSocketServer({ server: up.server });
      wss.on("connection", (sock) => sock.on("message", (m, binary) => sock.send(m, { binary })));
      servers.defer(() => wss.close());
      const p = await proxyTo(up.address, { timeoutMs: 200 });
      const client = new WebSocket(`ws://127.0.0.1:${p.port}/`);
      let closed = false;
      client.on("close", () => (closed = true));
      await new Promise<void>((resolve, reject) => {
        client.once("open", () => resolve());
        client.once("error", reject);
      });
      // A bounded wait for something that must not happen: three timeout periods of silence.
      await assert.rejects(waitFor(() => closed, { timeoutMs: 600, what: "websocket closed" }));
      const echoed = new Promise<string>((resolve) => client.once("message", (m: Buffer) => resolve(m.toString())));
      client.send("still here");
      assert.equal(await echoed, "still here");
      client.terminate();
    });

    test("answers 502 to a WebSocket handshake whose upstream refuses", async () => {
      const p = await proxyTo(`127.0.0.1:${await freePort()}`);
      const reply = await raw(p.port, HANDSHAKE);
      assert.match(reply, /^HTTP\/1\.1 502 /);
      assert.equal(errorBody(reply.slice(reply.indexOf("\r\n\r\n") + 4)).error, "bad_gateway");
    });

    test("answers 504 to a WebSocket handshake the upstream never answers", async () => {
      const up = await servers.upstream("mute");
      // Never answers, but closes its side once the proxy closes the connection.
      up.server.on("upgrade", (_req, socket: Socket) => socket.once("end", () => socket.destroy()));
      const p = await proxyTo(up.address, { timeoutMs: 200 });
      const reply = await raw(p.port, HANDSHAKE);
      assert.match(reply, /^HTTP\/1\.1 504 /);
      assert.equal(errorBody(reply.slice(reply.indexOf("\r\n\r\n") + 4)).error, "gateway_timeout");
      await waitFor(() => up.open === 0, { what: "upstream handshake socket closed" });
    });

    test("retain closes idle connections to targets no longer referenced and keeps the rest", async () => {
      const up = await servers.upstream("a");
      const p = await proxyTo(up.address);
      await send({ port: p.port });
      assert.equal(up.open, 1);
      p.engine.retain(new Set([toTarget(up.address).key]));
      await loopTurns();
      await send({ port: p.port });
      assert.equal(up.connections, 1, "a retained target keeps its pooled connection");
      p.engine.retain(new Set());
      await waitFor(() => up.open === 0, { what: "idle upstream connection closed by retain" });
    });

    test("keeps serving after a client sends garbage mid-connection", async () => {
      const up = await servers.upstream("a");
      const p = await proxyTo(up.address);
      const s = connect(p.port, "127.0.0.1");
      s.on("error", () => undefined);
      s.resume();
      s.end("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01garbage\r\n\r\n");
      await waitFor(() => s.destroyed || s.readableEnded, { what: "garbage connection closed" });
      assert.equal((await send({ port: p.port })).status, 200);
    });
  });
}
