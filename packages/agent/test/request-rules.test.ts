import assert from "node:assert/strict";
import { Agent } from "node:http";
import { connect } from "node:net";
import { afterEach, describe, test } from "node:test";
import { freePort } from "@switchyard/testkit";
import { DOORS, Servers, errorBody, h1, raw, send, table, tableAt, waitFor } from "./proxy-fixture.js";

/**
 * The request rules both front doors apply (serve/passes.ts): whatever door a request takes, the
 * upstream sees the same request and the client the same answer, and a client cannot pick the more
 * lenient one.
 */

/**
 * A client connection that keeps everything it receives. Half-open, as a hostile client may be: it
 * can still send after the proxy has ended its side.
 */
function wire(port: number) {
  let text = "";
  let ended = false;
  const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  socket.setNoDelay(true);
  socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
  socket.on("error", () => undefined);
  socket.on("end", () => (ended = true));
  socket.on("close", () => (ended = true));
  return { socket, text: () => text, ended: () => ended };
}

const bodyOf = (reply: string) => reply.slice(reply.indexOf("\r\n\r\n") + 4);
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe("request rules on both doors", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  async function setup(fastPath: boolean, opts: { underscores?: "drop" | "pass"; revisionHeader?: string } = {}) {
    const up = await servers.upstream("a", (req, res) => {
      req.resume();
      res.writeHead(200, { "content-length": "1" }).end("a");
    });
    const p = await servers.proxy(h1(), table({ defaultUpstream: up.address, pools: {}, routes: {} }), undefined, { fastPath, ...opts });
    return { up, p };
  }

  for (const [door, fastPath] of DOORS) {
    // RFC 9112 §9.6: a server that has sent (or will send) Connection: close must not process a
    // further request on that connection, whenever it arrives.
    for (const [what, first] of [
      ["Connection: close", "GET /first HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"],
      ["llhttp's 'Setting flag on close'", "PUT /url HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"],
      ["llhttp's 'Setting flag on close followed by tab'", "PUT /url HTTP/1.1\r\nHost: h\r\nConnection: close\t\r\n\r\n"],
    ] as const) {
      test(`${door}: never forwards a request that arrives in a later read after ${what}`, async () => {
        const { up, p } = await setup(fastPath);
        const c = wire(p.port);
        servers.defer(() => c.socket.destroy());
        c.socket.write(first);
        await waitFor(() => /\r\n\r\na$/.test(c.text()), { what: "the first response" });
        assert.match(c.text(), /\r\nConnection: close\r\n/i);
        await waitFor(() => c.ended(), { what: "the proxy to close its side of the connection" });
        c.socket.write("DELETE /after-close HTTP/1.1\r\nHost: h\r\n\r\n");
        // Showing that something does not happen needs a bounded wait.
        await assert.rejects(waitFor(() => up.requests.length > 1, { timeoutMs: 400, what: "a second request at the upstream" }));
        assert.deepEqual(up.requests.map((r) => r.method), [first.split(" ")[0]]);
        assert.equal(count(c.text(), /HTTP\/1\.1 /g), 1);
      });
    }

    for (const [what, field] of [
      ["Connection: close", "Connection: close"],
      ["Connection: close<TAB>", "Connection: close\t"],
      ["Proxy-Connection: close", "Proxy-Connection: close"],
    ] as const) {
      test(`${door}: ${what} with a pipelined request: one response, Connection: close, the second never forwarded`, async () => {
        const { up, p } = await setup(fastPath);
        const c = wire(p.port);
        servers.defer(() => c.socket.destroy());
        c.socket.write(`GET /one HTTP/1.1\r\nHost: h\r\n${field}\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\n`);
        await waitFor(() => c.ended(), { what: "the proxy to close its side of the connection" });
        assert.match(c.text(), /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(c.text(), /\r\nConnection: close\r\n/i);
        assert.ok(c.text().endsWith("\r\n\r\na"), c.text());
        assert.equal(count(c.text(), /HTTP\/1\.1 /g), 1);
        assert.deepEqual(up.requests.map((r) => r.url), ["/one"]);
      });
    }

    test(`${door}: a Content-Length with leading zeros goes upstream in canonical form`, async () => {
      const { up, p } = await setup(fastPath);
      const reply = await raw(p.port, "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 010\r\nConnection: close\r\n\r\n0123456789");
      assert.match(reply, /^HTTP\/1\.1 200 /);
      const seen = up.requests[0];
      await waitFor(() => seen?.body === "0123456789", { what: "the body at the upstream" });
      const at = seen?.rawHeaders.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === "content-length") ?? -1;
      assert.equal(seen?.rawHeaders[at + 1], "10");
    });

    test(`${door}: drops header fields whose names carry an underscore, as nginx does by default`, async () => {
      const { up, p } = await setup(fastPath);
      const reply = await raw(
        p.port,
        "GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nSome_Header: v\r\nX-Kept: 1\r\nConnection: close\r\n\r\n",
      );
      assert.match(reply, /^HTTP\/1\.1 200 /);
      const names = (up.requests[0]?.rawHeaders ?? []).filter((_, i) => i % 2 === 0);
      assert.deepEqual(names.filter((n) => n.includes("_")), []);
      assert.ok(names.includes("X-Kept"));
      assert.equal(up.requests[0]?.headers["x-forwarded-for"], "127.0.0.1");
    });

    test(`${door}: with AGENT_UNDERSCORE_HEADERS=pass, header fields with underscores are kept`, async () => {
      const { up, p } = await setup(fastPath, { underscores: "pass" });
      await raw(p.port, "GET / HTTP/1.1\r\nHost: h\r\nSome_Header: v\r\nConnection: close\r\n\r\n");
      assert.equal(up.requests[0]?.headers.some_header, "v");
    });

    for (const name of ["Authorization", "Content-Type", "User-Agent", "If-Modified-Since"]) {
      test(`${door}: a repeated ${name} is refused with 400, never forwarded`, async () => {
        const { up, p } = await setup(fastPath);
        const reply = await raw(p.port, `GET / HTTP/1.1\r\nHost: h\r\n${name}: one\r\n${name}: two\r\nConnection: close\r\n\r\n`);
        assert.match(reply, /^HTTP\/1\.1 400 /);
        assert.equal(errorBody(bodyOf(reply)).error, "bad_request");
        assert.equal(up.requests.length, 0);
      });
    }

    test(`${door}: the 502 and 504 bodies name the route's pool, never the upstream's address`, async () => {
      const dead = `127.0.0.1:${await freePort()}`;
      const mute = await servers.upstream("mute", () => undefined);
      const t = table({
        defaultUpstream: null,
        pools: { app: { targets: [{ address: dead }] }, slow: { targets: [{ address: mute.address }] } },
        routes: { "pool.test": { upstream: "app" }, "direct.test": { upstream: dead }, "slow.test": { upstream: "slow" }, "slowdirect.test": { upstream: mute.address } },
      });
      const p = await servers.proxy(h1(300), t, undefined, { fastPath });
      const answers: [string, number, string][] = [];
      for (const host of ["pool.test", "direct.test", "slow.test", "slowdirect.test"]) {
        const r = await send({ port: p.port, host });
        answers.push([host, r.status, errorBody(r.body).message]);
        for (const addr of [dead, mute.address, "127.0.0.1"]) assert.ok(!r.body.includes(addr), `${host}: ${r.body} names ${addr}`);
      }
      assert.deepEqual(answers.map(([h, s]) => [h, s]), [["pool.test", 502], ["direct.test", 502], ["slow.test", 504], ["slowdirect.test", 504]]);
      assert.match(answers[0]?.[2] ?? "", /'app'/);
      assert.match(answers[2]?.[2] ?? "", /'slow'/);
    });

    test(`${door}: AGENT_REVISION_HEADER stamps each response with the revision of the table that routed it`, async () => {
      const up = await servers.upstream("a", (_req, res) => res.writeHead(200, { "x-routed-by": "forged" }).end("a"));
      const dead = `127.0.0.1:${await freePort()}`;
      const s = (rev: number) => tableAt(rev, { defaultUpstream: null, pools: {}, routes: { "a.test": { upstream: up.address }, "dead.test": { upstream: dead } } });
      const p = await servers.proxy(h1(), s(7), undefined, { fastPath, revisionHeader: "X-Routed-By" });
      const ok = await send({ port: p.port, host: "a.test" });
      assert.equal(ok.headers["x-routed-by"], "7", "the upstream's own field of that name is replaced");
      assert.equal((await send({ port: p.port, host: "dead.test" })).headers["x-routed-by"], "7", "the edge's 502 for a routed request");
      assert.equal((await send({ port: p.port, host: "none.test" })).headers["x-routed-by"], "7", "a 404 no_route is the table's answer too");
      const head = await send({ port: p.port, host: "a.test", method: "HEAD" });
      assert.equal(head.headers["x-routed-by"], "7");
      p.setTable(s(8));
      assert.equal((await send({ port: p.port, host: "a.test" })).headers["x-routed-by"], "8");
      // A request refused before any table decided, on a connection whose last one was routed.
      const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
      servers.defer(() => keepAlive.destroy());
      assert.equal((await send({ port: p.port, host: "a.test", agent: keepAlive })).headers["x-routed-by"], "8");
      const bad = await send({ port: p.port, host: "a.test", agent: keepAlive, headers: { authorization: ["a", "b"] } });
      assert.equal(bad.status, 400);
      assert.equal(bad.headers["x-routed-by"], undefined, "no table decided the 400");
      p.setTable(undefined);
      const notReady = await send({ port: p.port, host: "a.test" });
      assert.equal(notReady.status, 503);
      assert.equal(notReady.headers["x-routed-by"], undefined, "no table routed it");
    });
  }

  test("without AGENT_REVISION_HEADER no revision field is added", async () => {
    const { p } = await setup(true);
    const r = await send({ port: p.port });
    assert.deepEqual(Object.keys(r.headers).filter((h) => h.includes("revision")), []);
  });
});
