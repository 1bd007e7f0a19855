import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Agent, get as httpGet } from "node:http";
import { connect, createServer as createNetServer, type Socket } from "node:net";
import { afterEach, describe, test } from "node:test";
import { UpstreamPool } from "../src/serve/h1/upstream-pool.js";
import { toTarget } from "../src/serve/table.js";
import { Servers, errorBody, h1, listen, loopTurns, ok200, raw, send, table, waitFor, type Script } from "./proxy-fixture.js";

/**
 * The h1 exchange's own connection handling, against scripted raw upstreams: what it may retry,
 * when it refuses to reuse a connection, and how it re-frames what the upstream sent.
 */

const LONG = 60_000;

describe("h1 exchange", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  /** A proxy in front of a scripted raw upstream (proxy-fixture.ts Servers.scripted). */
  async function scripted(script: Script) {
    const up = await servers.scripted(script);
    const p = await servers.proxy(h1(LONG), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    return { ...p, stats: up.stats };
  }

  const OK = ok200;

  test("retries an idempotent request once, on a new connection, when a reused one closes before answering", async () => {
    const p = await scripted((c, n) => (c === 0 && n === 1 ? "drop" : OK(`c${c}n${n}`)));
    assert.equal((await send({ port: p.port })).body, "c0n0");
    await loopTurns();
    const r = await send({ port: p.port });
    assert.equal(r.status, 200);
    assert.equal(r.body, "c1n0");
    assert.equal(p.stats.connections, 2);
    assert.equal(p.stats.requests.length, 3, "sent on the reused connection, then once more on a new one");
  });

  test("does not retry a POST on a reused connection that closes: the client gets the 502", async () => {
    const p = await scripted((c, n) => (c === 0 && n === 1 ? "drop" : OK(`c${c}n${n}`)));
    await send({ port: p.port });
    await loopTurns();
    const r = await send({ port: p.port, method: "POST", headers: { "content-length": "0" } });
    assert.equal(r.status, 502);
    assert.equal(errorBody(r.body).error, "bad_gateway");
    assert.equal(p.stats.requests.length, 2, "sent once, not twice");
  });

  test("does not retry on a new connection that closes without answering", async () => {
    const p = await scripted(() => "drop");
    assert.equal((await send({ port: p.port })).status, 502);
    assert.equal(p.stats.connections, 1);
  });

  test("delivers a response followed by stray bytes, then never reuses that connection", async () => {
    const p = await scripted((c) => ({ reply: `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nc${c}!!` }));
    assert.equal((await send({ port: p.port })).body, "ok");
    assert.equal((await send({ port: p.port })).body, "ok");
    assert.equal(p.stats.connections, 2);
  });

  test("closes an idle connection that sends bytes nobody asked for, so they never answer the next request", async () => {
    const p = await scripted((c) => OK(`real${c}`));
    assert.equal((await send({ port: p.port })).body, "real0");
    await waitFor(() => p.stats.open === 1, { what: "idle upstream connection" });
    p.stats.sockets[0]?.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil");
    // Well before the 4 s idle expiry would close it anyway.
    await waitFor(() => p.stats.open === 0, { what: "proxy closed the connection that spoke out of turn", timeoutMs: 1000 });
    assert.equal((await send({ port: p.port })).body, "real1");
  });

  test("a body framed only by the upstream closing reaches the client with Connection: close, so its end is known", async () => {
    const p = await scripted(() => ({ reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nnot really gzip", then: "close" }));
    const started = Date.now();
    const reply = await raw(p.port, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 3000);
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.match(reply, /\r\nConnection: close\r\n/i);
    assert.match(reply, /not really gzip$/);
    assert.ok(Date.now() - started < 2000, "the client connection closed with the body, not at the keep-alive timeout");
  });

  test("answers HEAD, 204 and 304 without a body, keeps the client's connection, and never reuses the upstream's after them", async () => {
    const up = await servers.upstream("nobody", (req, res) => {
      if (req.url === "/204") res.writeHead(204).end();
      else if (req.url === "/304") res.writeHead(304, { etag: '"x"' }).end();
      else res.writeHead(200, { "content-type": "text/plain", "content-length": "5" }).end(req.method === "HEAD" ? undefined : "hello");
    });
    const p = await servers.proxy(h1(LONG), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    const client = new Agent({ keepAlive: true, maxSockets: 1 });
    let clientConnections = 0;
    p.server.on("connection", () => clientConnections++);
    try {
      const head = await send({ port: p.port, method: "HEAD", agent: client });
      assert.equal(head.status, 200);
      assert.equal(head.headers["content-length"], "5");
      assert.equal(head.body, "");
      assert.equal((await send({ port: p.port, path: "/204", agent: client })).status, 204);
      const notModified = await send({ port: p.port, path: "/304", agent: client });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers.etag, '"x"');
      assert.equal((await send({ port: p.port, agent: client })).body, "hello");
    } finally {
      client.destroy();
    }
    assert.equal(clientConnections, 1, "one client connection carried all four");
    // A HEAD, 204 or 304 may be followed by a body its upstream sends anyway (upstream-reuse.test.ts).
    assert.equal(up.connections, 4, "each of HEAD, 204 and 304 retired its upstream connection");
  });

  test("a chunked response far larger than the read buffer reaches a stalling client byte for byte", async () => {
    const data = randomBytes(2 * 1024 * 1024 + 17);
    const up = await servers.upstream("big", (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      // Odd-sized writes, so chunk boundaries fall anywhere within the proxy's reads.
      for (let at = 0; at < data.length; at += 7919) res.write(data.subarray(at, at + 7919));
      res.end();
    });
    const p = await servers.proxy(h1(LONG), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    // A client that stalls now and then, so backpressure pauses and resumes the upstream in the
    // middle of chunks: every byte must still arrive, in order.
    const got = await new Promise<Buffer>((resolve, reject) => {
      httpGet({ host: "127.0.0.1", port: p.port, path: "/", agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let stalls = 0;
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          if (stalls < 8 && chunks.length % 16 === 0) {
            stalls++;
            res.pause();
            setTimeout(() => res.resume(), 30);
          }
        });
        res.on("end", () => resolve(Buffer.concat(chunks)));
        res.on("error", reject);
      }).on("error", reject);
    });
    assert.equal(got.length, data.length);
    assert.ok(got.equals(data), "the bytes differ");
  });

  /** An upstream that answers /big with `bytes` of data and holds /slow until the test ends. */
  async function bigOrSlow(bytes: number) {
    const up = await servers.upstream("big-or-slow", (req, res) => {
      if (req.url === "/slow") return;
      res.writeHead(200, { "content-length": String(bytes) });
      const chunk = Buffer.alloc(64 * 1024, 0x62);
      let sent = 0;
      const pump = () => {
        while (sent < bytes) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    return up;
  }

  test("cuts a client that stops reading, and its upstream connection, after the client send timeout", async () => {
    const up = await bigOrSlow(64 * 1024 * 1024);
    const p = await servers.proxy(h1(200, { clientSendTimeoutMs: 400 }), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    const client = connect(p.port, "127.0.0.1");
    client.on("error", () => undefined);
    servers.defer(() => client.destroy());
    client.write("GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n");
    client.pause();
    await waitFor(() => up.open === 1, { what: "upstream connection open" });
    // The client never reads again, so it cannot see its own connection close: the proxy's side shows it.
    await waitFor(() => up.open === 0 && p.results.length === 1, { what: "upstream cut and the client's response closed", timeoutMs: 5000 });
    assert.equal(p.results[0]?.status, 499);
    assert.equal(await new Promise<number>((resolve, reject) => p.server.getConnections((e, n) => (e ? reject(e) : resolve(n)))), 0);
  });

  test("frees the upstream of a pipelined response whose client left before it was its turn", async () => {
    const up = await bigOrSlow(4 * 1024 * 1024);
    const p = await servers.proxy(h1(300), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    const client = connect(p.port, "127.0.0.1");
    client.on("error", () => undefined);
    client.write("GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\nGET /big HTTP/1.1\r\nHost: a.test\r\n\r\n");
    await waitFor(() => up.requests.length === 2, { what: "both requests at the upstream" });
    client.destroy();
    await waitFor(() => up.open === 0, { what: "both upstream connections closed", timeoutMs: 5000 });
  });

  test("close() also cuts requests still running on pools retired by retain()", async () => {
    const up = await bigOrSlow(1);
    const engine = h1(LONG);
    const p = await servers.proxy(engine, table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    const reply = send({ port: p.port, path: "/slow" });
    await waitFor(() => up.requests.length === 1, { what: "request at the upstream" });
    engine.retain(new Set());
    engine.close();
    assert.equal((await reply).status, 502);
    await waitFor(() => up.open === 0, { what: "upstream connection closed" });
  });

  test("honours an upstream's short Keep-Alive timeout: timeout=1 leaves no time to reuse the connection", async () => {
    const p = await scripted((c) => OK(`c${c}`, "Keep-Alive: timeout=1\r\n"));
    await send({ port: p.port });
    await waitFor(() => p.stats.open === 0, { what: "connection closed after use, not kept for the 4 s idle expiry", timeoutMs: 1000 });
    assert.equal((await send({ port: p.port })).body, "c1");
  });

  test("re-frames a chunked response with trailers, and an HTTP/1.0 body that runs to close, whose connection is not reused", async () => {
    const p = await scripted((c, n) =>
      c === 0 && n === 0
        ? { reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nX-T: 1\r\n\r\n" }
        : { reply: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe rest, until close", then: "close" },
    );
    const chunked = await send({ port: p.port });
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body, "abcdefg");
    assert.equal(chunked.headers["x-t"], undefined, "trailers are not passed on");
    for (let i = 0; i < 2; i++) {
      const r = await send({ port: p.port });
      assert.equal(r.status, 200);
      assert.equal(r.body, "the rest, until close");
    }
    assert.equal(p.stats.connections, 2, "the chunked response's connection was reused once, the close-delimited one never");
  });
});

describe("h1 upstream pool", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  test("a connection the upstream closes while idle is never handed out again, not even before its socket's close event", async () => {
    const server = servers.track(createNetServer((s: Socket) => s.on("error", () => undefined)));
    const port = await listen(server);
    const pool = new UpstreamPool(toTarget(`127.0.0.1:${port}`), { timeoutMs: LONG, sendTimeoutMs: LONG });
    servers.defer(() => pool.destroy());
    const first = pool.acquire(false);
    pool.release(first, true, 32, 4000);
    await loopTurns();
    // What a FIN on an idle connection delivers; the socket's 'close' follows a loop phase later.
    first.socket.emit("end");
    const next = pool.acquire(false);
    assert.notEqual(next, first);
    assert.equal(next.reused, false);
  });
});

describe("h1 upstream pool cooling", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  test("a released connection is handed out again only once it has cooled, most recently used first", async () => {
    const server = servers.track(createNetServer((s: Socket) => s.on("error", () => undefined)));
    const port = await listen(server);
    const pool = new UpstreamPool(toTarget(`127.0.0.1:${port}`), { timeoutMs: LONG, sendTimeoutMs: LONG });
    servers.defer(() => pool.destroy());
    const [a, b] = [pool.acquire(false), pool.acquire(false)];
    pool.release(a, true, 32, 4000);
    pool.release(b, true, 32, 4000);
    const meanwhile = pool.acquire(false);
    assert.ok(meanwhile !== a && meanwhile !== b && !meanwhile.reused, "a cooling connection is never handed out");
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(![a, b].includes(pool.acquire(false)), "nor in the next loop turn: the loop may not have polled its socket yet");
    await loopTurns();
    const reused = pool.acquire(false);
    assert.equal(reused, b);
    assert.equal(reused.reused, true);
  });

  test("bytes that arrive on a released connection, cooling or idle, retire it", async () => {
    const server = servers.track(createNetServer((s: Socket) => s.on("error", () => undefined)));
    const sockets: Socket[] = [];
    server.on("connection", (s: Socket) => sockets.push(s));
    const port = await listen(server);
    const pool = new UpstreamPool(toTarget(`127.0.0.1:${port}`), { timeoutMs: LONG, sendTimeoutMs: LONG });
    servers.defer(() => pool.destroy());
    const conn = pool.acquire(false);
    await waitFor(() => sockets.length === 1, { what: "connected" });
    pool.release(conn, true, 32, 4000);
    sockets[0]?.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL");
    await waitFor(() => conn.closed, { what: "the connection that spoke out of turn closed" });
    await loopTurns();
    assert.notEqual(pool.acquire(false), conn);
  });
});
