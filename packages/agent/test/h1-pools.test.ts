import assert from "node:assert/strict";
import { Agent, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, test } from "node:test";
import { toTarget } from "../src/serve/table.js";
import { Servers, h1, loopTurns, raw, send, table, waitFor } from "./proxy-fixture.js";

/** The h1 pools' connection management: keepalive as an idle cap, retain, close, request bodies. */

const LONG = 60_000;

/** A keep-alive client limited to one connection, and a count of the connections the proxy accepted. */
function oneConnectionClient(server: Server) {
  let accepted = 0;
  server.on("connection", () => accepted++);
  return { client: new Agent({ keepAlive: true, maxSockets: 1 }), connections: () => accepted };
}

describe("h1 pools", () => {
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
    const engine = h1(LONG);
    const pool = { targets: [{ address }], ...(keepalive === undefined ? {} : { keepalive }) };
    const p = await servers.proxy(engine, table({ defaultUpstream: "app", pools: { app: pool }, routes: {} }));
    return { ...p, engine };
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

  test("retain keeps pools of retained targets", async () => {
    const up = await servers.upstream("a");
    const p = await proxyTo(up.address);
    await send({ port: p.port });
    const key = toTarget(up.address).key;
    p.engine.retain(new Set([key]));
    await loopTurns();
    await send({ port: p.port });
    assert.equal(up.connections, 1);
    assert.equal(up.open, 1);
  });

  test("close cuts in-flight requests with a 502 and closes their connections", async () => {
    const { up, held } = await holdingUpstream();
    const p = await proxyTo(up.address);
    const reply = send({ port: p.port });
    await waitFor(() => held.length === 1, { what: "request at the upstream" });
    p.engine.close();
    assert.equal((await reply).status, 502);
    await waitFor(() => up.open === 0, { what: "upstream connection closed" });
  });

  test("a body with a transfer coding before chunked reaches the upstream re-chunked, its coding declared as sent", async () => {
    const up = await servers.upstream("a", (req, res) => req.on("end", () => res.end("got")).resume());
    const p = await proxyTo(up.address);
    const reply = await raw(
      p.port,
      "POST /gz HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    await waitFor(() => up.requests[0]?.body === "hello", { what: "body at the upstream" });
    assert.equal(up.requests[0]?.headers["transfer-encoding"], "gzip, chunked");
    assert.equal(up.requests[0]?.headers["content-length"], undefined);
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
