import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, afterEach, before, describe, test } from "node:test";
import { parseCidrs } from "../src/serve/headers.js";
import { SERVER_TIMEOUTS } from "../src/serve/node-door.js";
import { Servers, errorBody, h1, raw, send, table, waitFor, type Upstream } from "./proxy-fixture.js";

const engine = () => h1();
const bodyOf = (reply: string) => reply.slice(reply.indexOf("\r\n\r\n") + 4);

describe("routing through the proxy server", () => {
  const servers = new Servers();
  const ups: Record<string, Upstream> = {};
  let port = 0;

  before(async () => {
    for (const name of ["exact", "wide", "narrow", "api", "v2", "fallback"]) ups[name] = await servers.upstream(name);
    const pool = (n: string) => ({ targets: [{ address: (ups[n] as Upstream).address }] });
    const p = await servers.proxy(
      engine(),
      table({
        defaultUpstream: "fallback",
        pools: Object.fromEntries(Object.keys(ups).map((n) => [n, pool(n)])),
        routes: {
          "shop.example.com": { upstream: "exact" },
          "*.example.com": { upstream: "wide" },
          "*.eu.example.com": { upstream: "narrow" },
          "r.test": { rules: [{ path: "/api", upstream: "api" }, { path: "/api/v2", upstream: "v2" }] },
        },
      }),
    );
    port = p.port;
  });
  after(() => servers.closeAll());

  const via = async (host: string, path = "/") => (await send({ port, host, path })).body;

  test("routes an exact host, then the longest wildcard, then the default", async () => {
    assert.equal(await via("shop.example.com"), "exact");
    assert.equal(await via("a.b.example.com"), "wide");
    assert.equal(await via("x.eu.example.com"), "narrow");
    assert.equal(await via("example.com"), "fallback");
    assert.equal(await via("unknown.test"), "fallback");
  });

  test("normalizes the Host header: case, port and trailing dot", async () => {
    assert.equal(await via("SHOP.Example.COM:8080"), "exact");
    assert.equal(await via("shop.example.com."), "exact");
    assert.equal(await via("X.EU.example.com.:443"), "narrow");
  });

  test("routes by the longest path prefix and ignores the query string", async () => {
    assert.equal(await via("r.test", "/api/v2/items"), "v2");
    assert.equal(await via("r.test", "/api/v1?next=/api/v2"), "api");
    assert.equal(await via("r.test", "/other?x=/api"), "fallback");
  });

  test("sends a request without Host (HTTP/1.0) to the default upstream", async () => {
    const reply = await raw(port, "GET / HTTP/1.0\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.equal(bodyOf(reply), "fallback");
  });

  test("rejects a request with two Host headers with 400", async () => {
    const reply = await raw(port, "GET / HTTP/1.1\r\nHost: shop.example.com\r\nHost: evil.test\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.equal(errorBody(bodyOf(reply)).error, "bad_request");
  });

  test("rejects an absolute-form request target with 400", async () => {
    const reply = await raw(port, "GET http://shop.example.com/ HTTP/1.1\r\nHost: shop.example.com\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 400 /);
  });

  test("answers a malformed request with a JSON 400 and closes the connection", async () => {
    const reply = await raw(port, "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.equal(errorBody(bodyOf(reply)).error, "bad_request");
  });

  test("rejects a Transfer-Encoding that does not end in chunked (smuggling shape)", async () => {
    const reply = await raw(port, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.ok(Object.values(ups).every((u) => u.requests.every((r) => r.method !== "POST")));
  });

  test("refuses a non-WebSocket upgrade with 400 and closes", async () => {
    const reply = await raw(port, "GET / HTTP/1.1\r\nHost: shop.example.com\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.match(errorBody(bodyOf(reply)).message, /WebSocket/);
  });

  test("uses the deliberate server timeouts", async () => {
    const p = await servers.proxy(engine(), undefined);
    assert.equal(p.server.headersTimeout, SERVER_TIMEOUTS.headersTimeout);
    assert.equal(p.server.requestTimeout, SERVER_TIMEOUTS.requestTimeout);
    assert.equal(p.server.keepAliveTimeout, SERVER_TIMEOUTS.keepAliveTimeout);
    assert.deepEqual([SERVER_TIMEOUTS.headersTimeout, SERVER_TIMEOUTS.requestTimeout, SERVER_TIMEOUTS.keepAliveTimeout], [20_000, 300_000, 5_000]);
  });
});

describe("proxy server behaviour", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  const onePool = (address: string) => table({ defaultUpstream: "app", pools: { app: { targets: [{ address }] } }, routes: {} });

  test("answers 503 not_ready before a table is installed, then serves once one is", async () => {
    const up = await servers.upstream("a");
    const p = await servers.proxy(engine(), undefined);
    const r = await send({ port: p.port });
    assert.equal(r.status, 503);
    assert.equal(errorBody(r.body).error, "not_ready");
    p.setTable(onePool(up.address));
    assert.equal((await send({ port: p.port })).body, "a");
  });

  test("answers 404 no_route as JSON when nothing matches and there is no default", async () => {
    const up = await servers.upstream("a");
    const p = await servers.proxy(engine(), table({ defaultUpstream: null, pools: { a: { targets: [{ address: up.address }] } }, routes: { "a.test": { upstream: "a" } } }));
    const r = await send({ port: p.port, host: "b.test" });
    assert.equal(r.status, 404);
    assert.deepEqual(errorBody(r.body), { error: "no_route", message: "no route for host 'b.test'" });
    const noHost = await raw(p.port, "GET / HTTP/1.0\r\n\r\n");
    assert.match(noHost, /^HTTP\/1\.1 404 /);
    const ws = await raw(p.port, "GET / HTTP/1.1\r\nHost: b.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert.match(ws, /^HTTP\/1\.1 404 /);
    assert.equal(up.requests.length, 0);
  });

  test("reads the table exactly once per request and serves a swapped table to the next one", async () => {
    const a = await servers.upstream("a");
    const b = await servers.upstream("b");
    const p = await servers.proxy(engine(), onePool(a.address));
    assert.equal((await send({ port: p.port })).body, "a");
    assert.equal(p.reads(), 1);
    p.setTable(onePool(b.address));
    assert.equal((await send({ port: p.port })).body, "b");
    assert.equal(p.reads(), 2);
  });

  test("reports every result with its upstream label; the edge's own answers as '-'", async () => {
    const up = await servers.upstream("a", (req, res) => res.writeHead(req.url === "/missing" ? 404 : 200).end());
    const p = await servers.proxy(engine(), table({ defaultUpstream: null, pools: { app: { targets: [{ address: up.address }] } }, routes: { "a.test": { upstream: "app" } } }));
    await send({ port: p.port, host: "a.test" });
    await send({ port: p.port, host: "a.test", path: "/missing" });
    await send({ port: p.port, host: "nowhere.test" });
    await waitFor(() => p.results.length === 3, { what: "3 results" });
    assert.deepEqual(p.results, [
      { upstream: "app", status: 200 },
      { upstream: "app", status: 404 },
      { upstream: "-", status: 404 },
    ]);
  });

  test("balances a pool across real upstreams in nginx's smooth 5:1:1 order", async () => {
    const a = await servers.upstream("a");
    const b = await servers.upstream("b");
    const c = await servers.upstream("c");
    const p = await servers.proxy(
      engine(),
      table({ defaultUpstream: "p", pools: { p: { targets: [{ address: a.address, weight: 5 }, { address: b.address }, { address: c.address }] } }, routes: {} }),
    );
    const seen: string[] = [];
    for (let i = 0; i < 7; i++) seen.push((await send({ port: p.port })).body);
    assert.deepEqual(seen, ["a", "a", "b", "a", "c", "a", "a"]);
  });

  test("splits requests across pools by weight", async () => {
    const blue = await servers.upstream("blue");
    const green = await servers.upstream("green");
    let i = 0;
    // Draws spread evenly over [0, 1): a 90/10 split must give green exactly one request in ten.
    const even = () => ((i++ * 7) % 10) / 10 + 0.05;
    const p = await servers.proxy(
      engine(),
      table({ defaultUpstream: { split: { blue: 90, green: 10 } }, pools: { blue: { targets: [{ address: blue.address }] }, green: { targets: [{ address: green.address }] } }, routes: {} }, even),
    );
    for (let n = 0; n < 100; n++) await send({ port: p.port });
    assert.deepEqual([blue.requests.length, green.requests.length], [90, 10]);
  });

  test("replaces forwarding headers from an untrusted peer and extends them from a trusted one", async () => {
    const up = await servers.upstream("a");
    const p = await servers.proxy(engine(), onePool(up.address), parseCidrs("127.0.0.3/32"));
    const claims = { "x-forwarded-for": "198.51.100.4", "x-real-ip": "6.6.6.6", "x-forwarded-proto": "https", "x-forwarded-host": "public.test" };
    await send({ port: p.port, host: "edge.test", headers: claims, localAddress: "127.0.0.2" });
    await send({ port: p.port, host: "edge.test", headers: claims, localAddress: "127.0.0.3" });
    const [untrusted, trusted] = up.requests.map((r) => r.headers);
    assert.deepEqual(
      { xff: untrusted?.["x-forwarded-for"], real: untrusted?.["x-real-ip"], proto: untrusted?.["x-forwarded-proto"], host: untrusted?.["x-forwarded-host"] },
      { xff: "127.0.0.2", real: "127.0.0.2", proto: "http", host: "edge.test" },
    );
    assert.deepEqual(
      { xff: trusted?.["x-forwarded-for"], real: trusted?.["x-real-ip"], proto: trusted?.["x-forwarded-proto"], host: trusted?.["x-forwarded-host"] },
      { xff: "198.51.100.4, 127.0.0.3", real: "198.51.100.4", proto: "https", host: "public.test" },
    );
    assert.equal(trusted?.host, "edge.test");
  });

  test("closes the upstream socket when a client aborts mid-upload", async () => {
    const up = await servers.upstream("a", () => undefined);
    const p = await servers.proxy(engine(), onePool(up.address));
    const c = httpRequest({ host: "127.0.0.1", port: p.port, method: "POST", path: "/upload", agent: false, headers: { "content-length": "100000" } });
    c.on("error", () => undefined);
    c.write("x".repeat(1000));
    await waitFor(() => up.requests.length === 1 && up.open === 1, { what: "upload reached the upstream" });
    c.destroy();
    await waitFor(() => up.open === 0, { what: "upstream socket closed after the client aborted" });
    await waitFor(() => p.results.length === 1, { what: "result" });
    assert.deepEqual(p.results, [{ upstream: "app", status: 499 }]);
  });
});
