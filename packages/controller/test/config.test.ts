import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { ConfigError, loadConfig } from "../src/config.js";

const good = { SWITCHYARD_TOKENS: "ops:write:0123456789abcdef0123,viewer:read:fedcba9876543210fedc" };

describe("controller config", () => {
  test("applies the documented defaults", () => {
    const c = loadConfig(good);
    assert.deepEqual(c.redis, { url: "redis://127.0.0.1:6379" });
    assert.equal(c.prefix, "switchyard");
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.port, 7070);
    assert.deepEqual(c.tokens.map((t) => [t.name, t.scope]), [["ops", "write"], ["viewer", "read"]]);
    assert.equal(c.logCap, 10_000);
  });

  test("a secret may contain colons", () => {
    assert.equal(loadConfig({ SWITCHYARD_TOKENS: "ops:write:abc:def:0123456789abcdef" }).tokens[0]?.secret, "abc:def:0123456789abcdef");
  });

  test("refuses to start without tokens: there is no open mode", () => {
    for (const tokens of [undefined, "", " , "]) {
      assert.throws(() => loadConfig({ SWITCHYARD_TOKENS: tokens }), (e: unknown) => e instanceof ConfigError && /SWITCHYARD_TOKENS.*(required|no tokens)/.test(e.message));
    }
  });

  test("lists every problem at once", () => {
    const err = (() => {
      try {
        loadConfig({ SWITCHYARD_TOKENS: "a:admin:short,b:write:short", CONTROLLER_PORT: "99999", REDIS_URL: "http://x", SWITCHYARD_PREFIX: "a b", SWITCHYARD_LOG_CAP: "10" });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("expected a ConfigError");
    })();
    const text = err.problems.join("\n");
    for (const needle of ["scope must be read or write", "secret must be at least 16", "CONTROLLER_PORT", "REDIS_URL", "SWITCHYARD_PREFIX", "SWITCHYARD_LOG_CAP"]) {
      assert.ok(text.includes(needle), `missing ${needle} in:\n${text}`);
    }
  });
});

test("the controller process exits with one message listing every problem", () => {
  const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
  const r = spawnSync(process.execPath, ["--import", "tsx", "--conditions", "switchyard-source", main], {
    env: { PATH: process.env.PATH, CONTROLLER_PORT: "nope" },
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /invalid configuration/);
  assert.match(r.stderr, /SWITCHYARD_TOKENS/);
  assert.match(r.stderr, /CONTROLLER_PORT/);
  assert.doesNotMatch(r.stderr, /at .*\.(ts|js):\d+/, "no stack trace");
});
