import assert from "node:assert/strict";
import { Agent, createServer, request as httpRequest, type ClientRequest } from "node:http";
import { afterEach, describe, test } from "node:test";
import HttpProxy from "http-proxy";
import { Servers, listen, raw, send, waitFor } from "./proxy-fixture.js";

/**
 * The http-proxy 1.18.1 defects that keep the library off the edge's HTTP path (it proxies WebSocket
 * upgrades only: upgrade-http-proxy.ts), shown against the bare library configured the obvious way.
 * The same scenarios pass through the h1 exchange in proxy-conformance.ts. If one of these starts
 * failing, the library changed.
 */

describe("bare http-proxy 1.18.1", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  async function bare(target: string, opts: HttpProxy.ServerOptions = {}) {
    const proxy = HttpProxy.createProxyServer({ target: `http://${target}`, ...opts });
    if (opts.agent instanceof Agent) servers.defer(() => (opts.agent as Agent).destroy());
    const errors: string[] = [];
    proxy.on("error", (err) => errors.push(err.message));
    const server = servers.track(createServer((req, res) => proxy.web(req, res)));
    return { port: await listen(server), errors };
  }

  test("(a) rewrites a chunked DELETE to Content-Length: 0 and smuggles its body as a second request", async () => {
    const up = await servers.upstream("a");
    const p = await bare(up.address);
    await raw(p.port, "DELETE /items/1 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    await waitFor(() => up.requests.length >= 1, { what: "the DELETE at the upstream" });
    assert.equal(up.requests[0]?.headers["content-length"], "0");
    assert.equal(up.requests[0]?.headers["transfer-encoding"], undefined);
    // The body bytes follow on the same connection and are parsed as the start of a new request.
    await waitFor(() => up.clientErrors.length > 0, { what: "the body parsed as a bogus request" });
  });

  test("(b) leaves upstream sockets open after waiting clients abort", async () => {
    const up = await servers.upstream("slow", () => undefined);
    const p = await bare(up.address, { agent: new Agent({ keepAlive: true }) });
    let proxyClosed = 0;
    const clients: ClientRequest[] = [];
    for (let i = 0; i < 10; i++) {
      const c = httpRequest({ host: "127.0.0.1", port: p.port, agent: false });
      c.on("error", () => undefined);
      c.on("close", () => proxyClosed++);
      c.end();
      clients.push(c);
    }
    await waitFor(() => up.requests.length === 10, { what: "10 requests at the upstream" });
    for (const c of clients) c.destroy();
    await waitFor(() => proxyClosed === 10, { what: "clients closed" });
    // Showing that something does not happen needs a bounded wait; our engine gets there in
    // milliseconds (proxy-conformance.ts), so a second is ample.
    await assert.rejects(waitFor(() => up.open === 0, { timeoutMs: 1000, what: "upstream sockets closed" }));
    assert.equal(up.open, 10);
  });

  test("(c) forwards hop-by-hop headers, and those named in Connection, both ways", async () => {
    const up = await servers.upstream("a", (_req, res) => {
      res.setHeader("connection", "keep-alive, x-internal");
      res.setHeader("x-internal", "secret");
      res.setHeader("proxy-connection", "keep-alive");
      res.end("ok");
    });
    const p = await bare(up.address, { agent: new Agent({ keepAlive: true }) });
    const r = await send({ port: p.port, headers: { connection: "keep-alive, x-secret", "x-secret": "1", "proxy-connection": "keep-alive" } });
    assert.equal(up.requests[0]?.headers["x-secret"], "1");
    assert.equal(up.requests[0]?.headers["proxy-connection"], "keep-alive");
    assert.equal(r.headers["x-internal"], "secret");
    assert.equal(r.headers["proxy-connection"], "keep-alive");
  });

  test("(d) with xfwd, keeps a client's forged X-Forwarded-For and appends to it", async () => {
    const up = await servers.upstream("a");
    const p = await bare(up.address, { xfwd: true });
    await send({ port: p.port, headers: { "x-forwarded-for": "6.6.6.6" } });
    assert.equal(up.requests[0]?.headers["x-forwarded-for"], "6.6.6.6,127.0.0.1");
  });
});
