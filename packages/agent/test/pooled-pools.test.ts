import assert from "node:assert/strict";
import { Agent, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, test } from "node:test";
import { createHttpProxyEngine } from "../src/serve/engine-http-proxy.js";
import { toTarget, type ForwardEngine } from "../src/serve/engine.js";
import { POOLED_ENGINES } from "./pooled-engines.js";
import { Servers, raw, send, table, waitFor } from "./proxy-fixture.js";

/** Each pooled engine's connection management: keepalive as an idle cap, retain, close, fallback. */

const LONG = 60_000;

/** A fallback that records what reaches it and forwards to a real http-proxy engine. */
function spyFallback() {
  const inner = createHttpProxyEngine({ upstreamTimeoutMs: LONG });
  const calls = { forward: 0, upgrade: 0, retained: [] as string[][], closed: 0 };
  const engine: ForwardEngine = {
    forward(req, res, target) {
      calls.forward++;
      inner.forward(req, res, target);
    },
    upgrade(req, socket, head, target) {
      calls.upgrade++;
      inner.upgrade(req, socket, head, target);
    },
    retain(keys) {
      calls.retained.push([...keys]);
      inner.retain(keys);
    },
    close() {
      calls.closed++;
      inner.close();
    },
  };
  return { engine, calls };
}

/** A keep-alive client limited to one connection, and a count of the connections the proxy accepted. */
function oneConnectionClient(server: Server) {
  let accepted = 0;
  server.on("connection", () => accepted++);
  return { client: new Agent({ keepAlive: true, maxSockets: 1 }), connections: () => accepted };
}

for (const [name, make] of POOLED_ENGINES) {
  describe(`${name} engine pools`, () => {
    const servers = new Servers();
    afterEach(() => servers.closeAll());

    /** An upstream that holds every response until release() is called, or answers at once after stopHolding(). */
    async function holdingUpstream() {
      const held: ServerResponse[] = [];
      let holding = true;
      const up = await servers.upstream("held", (_req, res) => {
        if (holding) held.push(res);
        else res.end("ok");
      });
      const release = () => {
        for (const res of held.splice(0)) res.end("ok");
      };
      const stopHolding = () => {
        holding = false;
        release();
      };
      return { up, held, release, stopHolding };
    }

    const proxyTo = async (address: string, keepalive?: number) => {
      const fallback = spyFallback();
      const engine = make({ upstreamTimeoutMs: LONG, fallback: fallback.engine });
      const pool = { targets: [{ address }], ...(keepalive === undefined ? {} : { keepalive }) };
      const p = await servers.proxy(engine, table({ defaultUpstream: "app", pools: { app: pool }, routes: {} }));
      return { ...p, engine, fallback: fallback.calls };
    };

    test("concurrency is not capped at keepalive; connections beyond it close after use", async () => {
      const { up, held, stopHolding } = await holdingUpstream();
      const p = await proxyTo(up.address, 3);
      const replies = Array.from({ length: 12 }, (_, i) => send({ port: p.port, path: `/${i}` }));
      await waitFor(() => held.length === 12, { what: "12 requests at the upstream at once" });
      assert.equal(up.open, 12);
      stopHolding();
      for (const r of await Promise.all(replies)) assert.equal(r.status, 200);
      await waitFor(() => up.open === 3, { what: "overflow connections closed, 3 kept" });
      for (let i = 0; i < 6; i++) assert.equal((await send({ port: p.port })).status, 200);
      assert.equal(up.connections, 12, "the kept connections are reused");
    });

    test("retain lets an in-flight response finish, then closes its connection; the target still works after", async () => {
      const { up, held, release } = await holdingUpstream();
      const p = await proxyTo(up.address);
      const reply = send({ port: p.port });
      await waitFor(() => held.length === 1, { what: "request at the upstream" });
      p.engine.retain(new Set());
      release();
      const r = await reply;
      assert.equal(r.status, 200);
      assert.equal(r.body, "ok");
      await waitFor(() => up.open === 0, { what: "retired pool's connection closed after its response" });
      const again = send({ port: p.port });
      await waitFor(() => held.length === 1, { what: "second request at the upstream" });
      release();
      assert.equal((await again).status, 200);
      assert.equal(up.connections, 2, "a new pool, a new connection");
    });

    test("retain keeps pools of retained targets and passes the keys to the fallback", async () => {
      const up = await servers.upstream("a");
      const p = await proxyTo(up.address);
      await send({ port: p.port });
      const key = toTarget(up.address).key;
      p.engine.retain(new Set([key]));
      assert.deepEqual(p.fallback.retained, [[key]]);
      await send({ port: p.port });
      assert.equal(up.connections, 1);
      assert.equal(up.open, 1);
    });

    test("close cuts in-flight requests with a 502, closes their connections and closes the fallback", async () => {
      const { up, held } = await holdingUpstream();
      const p = await proxyTo(up.address);
      const reply = send({ port: p.port });
      await waitFor(() => held.length === 1, { what: "request at the upstream" });
      p.engine.close();
      assert.equal((await reply).status, 502);
      await waitFor(() => up.open === 0, { what: "upstream connection closed" });
      assert.equal(p.fallback.closed, 1);
    });

    test("a body with a transfer coding besides chunked goes to the fallback, coding intact; plain chunked does not", async () => {
      const up = await servers.upstream("a", (req, res) => req.on("end", () => res.end("got")).resume());
      const p = await proxyTo(up.address);
      const reply = await raw(
        p.port,
        "POST /gz HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      );
      assert.match(reply, /^HTTP\/1\.1 200 /);
      assert.equal(p.fallback.forward, 1);
      await waitFor(() => up.requests[0]?.body === "hello", { what: "body at the upstream" });
      assert.equal(up.requests[0]?.headers["transfer-encoding"], "gzip, chunked");

      const plain = await raw(p.port, "POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
      assert.match(plain, /^HTTP\/1\.1 200 /);
      assert.equal(p.fallback.forward, 1, "plain chunked stays on the engine");
      await waitFor(() => up.requests[1]?.body === "hi", { what: "second body at the upstream" });
    });

    test("WebSocket upgrades are handed to the fallback", async () => {
      const p = await proxyTo("127.0.0.1:1");
      const reply = await raw(
        p.port,
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      );
      assert.match(reply, /^HTTP\/1\.1 502 /);
      assert.equal(p.fallback.upgrade, 1);
    });

    test("an upstream answering before reading the body: the client gets that answer and its connection stays usable", async () => {
      const up = await servers.upstream("early", (req, res) => {
        if (req.method === "POST") res.writeHead(413, { "content-type": "text/plain" }).end("too big");
        else res.end("fine");
      });
      const p = await proxyTo(up.address);
      const { client, connections } = oneConnectionClient(p.server);
      try {
        const big = "x".repeat(4 * 1024 * 1024);
        const r = await send({ port: p.port, method: "POST", body: big, agent: client });
        assert.equal(r.status, 413);
        assert.equal(r.body, "too big");
        const next = await send({ port: p.port, agent: client });
        assert.equal(next.status, 200);
        assert.equal(next.body, "fine");
      } finally {
        client.destroy();
      }
      await waitFor(() => p.results.length === 2, { what: "two results" });
      assert.deepEqual(p.results.map((r) => r.status), [413, 200]);
      assert.equal(connections(), 1, "the rest of the unread body was drained, not left to block the connection");
    });

    test("an upstream that dies mid-upload: 502 JSON, and the client connection stays usable", async () => {
      const up = await servers.upstream("dies", (req, res) => {
        if (req.method === "POST") req.once("data", () => req.socket.destroy());
        else res.end("fine");
      });
      const p = await proxyTo(up.address);
      const { client, connections } = oneConnectionClient(p.server);
      try {
        const r = await send({ port: p.port, method: "POST", body: "y".repeat(4 * 1024 * 1024), agent: client });
        assert.equal(r.status, 502);
        assert.equal(JSON.parse(r.body).error, "bad_gateway");
        assert.equal((await send({ port: p.port, agent: client })).body, "fine");
      } finally {
        client.destroy();
      }
      assert.equal(connections(), 1);
    });
  });
}
