import assert from "node:assert/strict";
import { test } from "node:test";
import request from "supertest";
import { auth, fixturePerTest, unchanged, type Fixture } from "./fixture.js";

/**
 * Bodies built to hurt the parser and the validators: deep nesting within the 64 KiB limit.
 * Every one gets a 400 naming the problem and changes nothing; none reaches a recursive walk.
 */

let fx: Fixture;
fixturePerTest(async (f) => {
  fx = f;
  await request(fx.app).put("/v1/pools/blue").set(auth()).send({ targets: [{ address: "127.0.0.1:1" }] }).expect(200);
});

const brackets = "[".repeat(30_000) + "]".repeat(30_000);
const objects = '{"a":'.repeat(6_000) + "1" + "}".repeat(6_000);
const inSplit = `{"upstream":{"split":{"blue":${"[".repeat(20_000)}${"]".repeat(20_000)}}}}`;
const inArray = `{"targets":[${"[".repeat(25_000)}${"]".repeat(25_000)}]}`;

const cases: [string, string, string][] = [
  ["30,000 nested arrays as a route", "/v1/routes/a.com", brackets],
  ["6,000 nested objects as a route", "/v1/routes/a.com", objects],
  ["20,000 nested arrays inside a split", "/v1/routes/a.com", inSplit],
  ["25,000 nested arrays inside a pool's targets", "/v1/pools/blue", inArray],
  ["30,000 nested arrays as the default", "/v1/default", brackets],
  ["6,000 nested objects as a cutover", "/v1/cutovers", objects],
];

for (const [claim, path, body] of cases) {
  test(`${claim} gets 400 invalid and changes nothing`, async () => {
    assert.ok(Buffer.byteLength(body) <= 64 * 1024, "within the body limit, so the validators see it");
    await unchanged(fx, async () => {
      const send = path === "/v1/cutovers" ? request(fx.app).post(path) : request(fx.app).put(path);
      const res = await send.set(auth()).set("Content-Type", "application/json").send(body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error, "invalid");
      assert.match(res.body.message, /nesting deeper than \d+ levels/);
    });
  });
}

test("the deepest valid document (a split inside a rule) is still accepted", async () => {
  const route = { rules: [{ path: "/", upstream: { split: { blue: 100 } } }] };
  await request(fx.app).put("/v1/routes/a.com").set(auth()).send(route).expect(200);
});
