import assert from "node:assert/strict";
import { createServer as createNetServer } from "node:net";
import { Agent } from "node:http";
import { afterEach, describe, test } from "node:test";
import { DOORS, Servers, h1, listen, send, table, type Upstream } from "./proxy-fixture.js";

/** A loopback port nothing listens on: connecting to it is refused. */
async function deadAddress(): Promise<string> {
  const s = createNetServer();
  const port = await listen(s);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

const route = (pool: unknown) => table({ defaultUpstream: null, pools: { p: pool }, routes: { "h.test": { upstream: "p" } } });

describe("next target on failure", () => {
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  for (const [door, fastPath] of DOORS) {
    test(`a pool with one dead target of two fails none of 200 sequential GETs (${door})`, async () => {
      const live = await servers.upstream("live");
      const dead = await deadAddress();
      const p = await servers.proxy(h1(), route({ targets: [{ address: dead }, { address: live.address }] }), undefined, { fastPath });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const statuses = new Map<number, number>();
        for (let i = 0; i < 200; i++) {
          const r = await send({ port: p.port, host: "h.test", agent });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
        assert.deepEqual([...statuses], [[200, 200]]);
        assert.equal(live.requests.length, 200);
      } finally {
        agent.destroy();
      }
    });
  }

  test("a POST without a body goes to the next target when the connect is refused (it never left)", async () => {
    const live = await servers.upstream("live");
    const p = await servers.proxy(h1(), route({ targets: [{ address: await deadAddress() }, { address: live.address }], passive: { consecutiveFailures: 0 } }));
    for (let i = 0; i < 6; i++) assert.equal((await send({ port: p.port, host: "h.test", method: "POST" })).status, 200);
  });

  test("a reset before the first byte sends a GET on to the next target, never to the same one twice", async () => {
    const dropper = await servers.scripted(() => "drop");
    const live = await servers.upstream("live");
    const p = await servers.proxy(h1(), route({ targets: [{ address: dropper.address }, { address: live.address }], passive: { consecutiveFailures: 0 } }));
    for (let i = 0; i < 6; i++) assert.equal((await send({ port: p.port, host: "h.test" })).status, 200);
    // Half the requests went to the dropper first, once each (fresh connections: no keep-alive race retry).
    assert.equal(dropper.stats.requests.length, 3);
  });

  test("a pool of dead targets answers 502 after a bounded number of attempts", async () => {
    const targets = [];
    for (let i = 0; i < 6; i++) targets.push({ address: await deadAddress() });
    const p = await servers.proxy(h1(), route({ targets, passive: { consecutiveFailures: 0 } }));
    const r = await send({ port: p.port, host: "h.test" });
    assert.equal(r.status, 502);
    assert.equal(r.body.includes("127.0.0.1"), false);
  });

  test("an upstream 503 goes to another target only when the pool opts in with retry", async () => {
    const sick: Upstream = await servers.upstream("sick", (_req, res) => res.writeHead(503).end("sick"));
    const live = await servers.upstream("live");
    const pool = { targets: [{ address: sick.address }, { address: live.address }], passive: { consecutiveFailures: 0 } };
    const without = await servers.proxy(h1(), route(pool));
    const plain = [];
    for (let i = 0; i < 4; i++) plain.push((await send({ port: without.port, host: "h.test" })).status);
    assert.deepEqual(plain.sort(), [200, 200, 503, 503]);
    const withRetry = await servers.proxy(h1(), route({ ...pool, retry: { on: ["503"], tries: 2 } }));
    for (let i = 0; i < 4; i++) assert.equal((await send({ port: withRetry.port, host: "h.test" })).status, 200);
  });
});
