import assert from "node:assert/strict";
import { Agent, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, test } from "node:test";
import { DOORS, Servers, h1, ok200, send, table, waitFor } from "./proxy-fixture.js";

/**
 * When an upstream connection may carry another client's request (the audit's D1 and keep-alive
 * churn). A connection goes back to the pool only when nothing the upstream sends later can be
 * read as the next client's response; at default settings a steady load keeps reusing its
 * connections instead of opening new ones.
 */

const VICTIM = ok200("victim");

/**
 * First responses after which the upstream sends more bytes that would answer the next request
 * on the same connection, each with those late bytes (what the next request would read).
 */
const LATE_BYTES: { name: string; method: string; path: string; reply: string; late: string }[] = [
  {
    name: "a HEAD response whose upstream then sends the body it announced",
    method: "HEAD",
    path: "/r/headbody",
    reply: "HTTP/1.1 200 OK\r\nContent-Length: 53\r\n\r\n",
    late: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Evil: 1\r\n\r\nEVIL",
  },
  {
    name: "a 204 followed by a head with no blank line, which would prepend fields to the next response",
    method: "GET",
    path: "/nocontent",
    reply: "HTTP/1.1 204 No Content\r\n\r\n",
    late: "HTTP/1.1 200 OK\r\nSet-Cookie: evil=1\r\nX-Pad: ",
  },
  {
    name: "a 304 with Transfer-Encoding: chunked followed by a chunked 200",
    method: "GET",
    path: "/notmodified",
    reply: "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
    late: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nEVIL\r\n0\r\n\r\n",
  },
];

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const s = connect(port, "127.0.0.1", () => s.write(text));
    s.on("data", (c: Buffer) => {
      got += c.toString("latin1");
      // One response head is all these first requests get (HEAD, 204 and 304 carry no body).
      if (got.includes("\r\n\r\n")) s.destroy();
    });
    s.on("error", () => undefined);
    s.on("close", () => resolve(got));
  });
}

describe("upstream connection reuse", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  for (const [door, fastPath] of DOORS) {
    for (const c of LATE_BYTES) {
      test(`${door}: never pools the connection after ${c.name}, so another client never reads them`, async () => {
        // The late bytes come just as the next request arrives on the same connection: the worst
        // timing, which a connection returned to the pool cannot rule out.
        const up = await servers.scripted((conn, n) => (conn === 0 && n === 0 ? { reply: c.reply } : conn === 0 ? { reply: c.late + VICTIM.reply } : VICTIM));
        const p = await servers.proxy(h1(), table({ defaultUpstream: up.address, pools: {}, routes: {} }), undefined, { fastPath });
        const first = await rawRequest(p.port, `${c.method} ${c.path} HTTP/1.1\r\nHost: a.test\r\n\r\n`);
        assert.match(first, /^HTTP\/1\.1 (200|204|304) /);
        const victim = await send({ port: p.port, path: "/victim" });
        assert.equal(victim.status, 200);
        assert.equal(victim.body, "victim");
        assert.equal(victim.headers["x-evil"], undefined);
        assert.equal(victim.headers["set-cookie"], undefined);
        assert.equal(up.stats.connections, 2, "the victim's request went out on a new connection");
      });
    }

    test(`${door}: a connection is not handed to another request in the loop turn it was released, so bytes still in flight cannot answer it`, async () => {
      // /a is answered, and 30 ms later the same connection sends a second response nobody asked
      // for. /b, pipelined right behind /a, is sent before those bytes arrive: on a connection
      // reused at once it would read them as its own answer.
      const up = await servers.scripted((conn, n, head) => {
        if (conn === 0 && n === 0) return { reply: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nAAA", later: { ms: 30, bytes: "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nBBBB" } };
        if (conn === 0) return "silent";
        return ok200(head.split(" ")[1] ?? "?");
      });
      const p = await servers.proxy(h1(), table({ defaultUpstream: up.address, pools: {}, routes: {} }), undefined, { fastPath });
      let got = "";
      const s: Socket = connect(p.port, "127.0.0.1", () => s.write("GET /a HTTP/1.1\r\nHost: a.test\r\n\r\nGET /b HTTP/1.1\r\nHost: a.test\r\n\r\n"));
      s.on("data", (d: Buffer) => (got += d.toString("latin1")));
      s.on("error", () => undefined);
      servers.defer(() => s.destroy());
      await waitFor(() => /\r\n\r\n\/b$/.test(got) || got.includes("BBBB"), { what: "the second response" });
      assert.doesNotMatch(got, /201 Created|BBBB/);
      assert.match(got, /AAA[\s\S]*\r\n\r\n\/b$/);
      // The stray response then arrives on a connection nobody is using: it is closed, not kept.
      await waitFor(() => up.stats.sockets[0]?.destroyed === true || up.stats.open <= 1, { what: "the connection that spoke out of turn closed", timeoutMs: 3000 });
    });
  }

  test("at default settings, rounds of 50 concurrent requests keep reusing the same 50 upstream connections", async () => {
    // Every request is held at the upstream until all 50 are there, so each round needs exactly 50
    // connections at once; between rounds they are all idle. An idle cap below the concurrency the
    // load reached would close the surplus after every round and open it again in the next.
    const held: ServerResponse[] = [];
    const up = await servers.upstream("held", (req, res) => {
      req.resume();
      held.push(res);
    });
    // A direct address: no pool, so no keepalive setting, the default.
    const p = await servers.proxy(h1(), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    const clients = 50;
    const agents = Array.from({ length: clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    servers.defer(() => agents.forEach((a) => a.destroy()));
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const replies = agents.map((agent) => send({ port: p.port, agent }));
      await waitFor(() => held.length === clients, { what: `round ${round + 1}: ${clients} requests at the upstream at once` });
      for (const res of held.splice(0)) res.writeHead(200, { "content-length": "2" }).end("ok");
      for (const r of await Promise.all(replies)) assert.equal(r.status, 200);
    }
    assert.equal(up.requests.length, rounds * clients);
    assert.equal(up.connections, clients, `${up.connections} upstream connections for ${rounds} rounds of ${clients} concurrent requests`);
  });
});
