import assert from "node:assert/strict";
import { createServer as createNetServer, type Socket } from "node:net";
import { afterEach, describe, test } from "node:test";
import { Servers, errorBody, h1, listen, send, table, waitFor } from "./proxy-fixture.js";

/**
 * Upstreams that break HTTP in ways a strict client rejects where Node's own client might not: each must
 * end in the edge's 502 JSON (or a cut connection once a status was sent), never a crash or hang.
 */

const LONG = 60_000;

const FAULTS: { name: string; reply: string; close?: boolean }[] = [
  { name: "a garbage status line", reply: "garbage\r\n\r\n" },
  { name: "Content-Length and Transfer-Encoding together", reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" },
  { name: "an unrequested 101 upgrade", reply: "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n" },
  { name: "a reason phrase with a control character", reply: "HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok" },
  { name: "headers beyond 16 KiB", reply: `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok` },
  { name: "a close before any response", reply: "", close: true },
];

describe("h1 upstream faults", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  for (const fault of FAULTS) {
    test(`answers 502 to ${fault.name}`, async () => {
      const upstream = servers.track(
        createNetServer((s: Socket) => {
          s.on("error", () => undefined);
          s.once("data", () => {
            if (fault.close) s.destroy();
            else s.end(fault.reply);
          });
        }),
      );
      const port = await listen(upstream);
      const engine = h1(LONG);
      const p = await servers.proxy(engine, table({ defaultUpstream: `127.0.0.1:${port}`, pools: {}, routes: {} }));
      const r = await send({ port: p.port });
      assert.equal(r.status, 502);
      assert.equal(errorBody(r.body).error, "bad_gateway");
      await waitFor(() => p.results.length === 1, { what: "result reported" });
      // The proxy still serves.
      assert.equal((await send({ port: p.port })).status, 502);
    });
  }

  test("passes a 103 Early Hints by (not forwarded) and forwards the final response", async () => {
    const upstream = servers.track(
      createNetServer((s: Socket) => {
        s.once("data", () => s.end("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"));
      }),
    );
    const port = await listen(upstream);
    const engine = h1(LONG);
    const p = await servers.proxy(engine, table({ defaultUpstream: `127.0.0.1:${port}`, pools: {}, routes: {} }));
    const r = await send({ port: p.port });
    assert.equal(r.status, 200);
    assert.equal(r.body, "ok");
  });
});
