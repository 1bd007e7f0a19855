import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { DOORS, Servers, h1, raw, send, table } from "./proxy-fixture.js";

// X-Request-Id on both front doors: whichever door a request takes, the same id rules hold.
const GENERATED = /^[0-9a-f]{12}-[0-9a-z]+$/;

for (const [door, fastPath] of DOORS) {
  describe(`X-Request-Id through ${door}`, () => {
    const servers = new Servers();
    after(() => servers.closeAll());

    const start = async () => {
      const up = await servers.upstream("app");
      const p = await servers.proxy(h1(), table({ defaultUpstream: "app", pools: { app: { targets: [{ address: up.address }] } }, routes: {} }), undefined, { fastPath });
      const idsSeen = () => up.requests.map((r) => r.rawHeaders.filter((_, i, a) => i % 2 === 0 && a[i]?.toLowerCase() === "x-request-id").length === 1 ? r.headers["x-request-id"] : `count!=1`);
      return { port: p.port, idsSeen };
    };

    test("an id is generated when absent, a new one per request, and passed upstream", async () => {
      const { port, idsSeen } = await start();
      await send({ port, host: "a.test" });
      await send({ port, host: "a.test", method: "POST", body: "x" });
      const [a, b] = idsSeen();
      assert.match(String(a), GENERATED);
      assert.match(String(b), GENERATED);
      assert.notEqual(a, b);
    });

    test("a well-formed client id is kept and passed upstream once", async () => {
      const { port, idsSeen } = await start();
      const uuid = "0b6f1c1e-3f5a-4e3b-9a51-0e0c8f1f2a77";
      await send({ port, host: "a.test", headers: { "X-Request-Id": uuid } });
      await send({ port, host: "a.test", headers: { "x-request-id": "trace:a/b+c=d@e_f.g" } });
      assert.deepEqual(idsSeen(), [uuid, "trace:a/b+c=d@e_f.g"]);
    });

    test("a malformed, overlong or repeated client id is replaced by a generated one", async () => {
      const { port, idsSeen } = await start();
      await send({ port, host: "a.test", headers: { "x-request-id": "has space" } });
      await send({ port, host: "a.test", headers: { "x-request-id": "x".repeat(129) } });
      await send({ port, host: "a.test", headers: { "x-request-id": "<script>" } });
      // Two fields: raw, since Node's client would join them.
      const reply = await raw(port, "GET / HTTP/1.1\r\nHost: a.test\r\nX-Request-Id: one\r\nX-Request-Id: two\r\nConnection: close\r\n\r\n");
      assert.match(reply, /^HTTP\/1\.1 200 /);
      const ids = idsSeen();
      assert.equal(ids.length, 4);
      for (const id of ids) assert.match(String(id), GENERATED);
      // The longest kept id is 128 characters.
      await send({ port, host: "a.test", headers: { "x-request-id": "y".repeat(128) } });
      assert.equal(idsSeen()[4], "y".repeat(128));
    });
  });
}
