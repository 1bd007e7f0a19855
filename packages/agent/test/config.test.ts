import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, loadConfig } from "../src/config.js";

/** The agent's environment contract for the serve path: names and values as documented in README.md. */

const base = { REDIS_URL: "redis://127.0.0.1:6379" };
const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ ...base, ...env });
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
};

describe("agent serve settings", () => {
  test("header fields with underscores are dropped by default; AGENT_UNDERSCORE_HEADERS=pass keeps them", () => {
    assert.equal(loadConfig(base).underscoreHeaders, "drop");
    assert.equal(loadConfig({ ...base, AGENT_UNDERSCORE_HEADERS: "pass" }).underscoreHeaders, "pass");
    assert.equal(loadConfig({ ...base, AGENT_UNDERSCORE_HEADERS: "drop" }).underscoreHeaders, "drop");
    assert.match(problems({ AGENT_UNDERSCORE_HEADERS: "keep" }).join("\n"), /AGENT_UNDERSCORE_HEADERS/);
  });

  test("AGENT_REVISION_HEADER is off by default and takes one header field name", () => {
    assert.equal(loadConfig(base).revisionHeader, undefined);
    assert.equal(loadConfig({ ...base, AGENT_REVISION_HEADER: "X-Switchyard-Revision" }).revisionHeader, "X-Switchyard-Revision");
    for (const bad of ["x revision", "x:rev", "content-length", "Connection", "transfer-encoding", "date"]) {
      assert.match(problems({ AGENT_REVISION_HEADER: bad }).join("\n"), /AGENT_REVISION_HEADER/, bad);
    }
  });

  test("the retired engines are refused by name, not silently replaced", () => {
    assert.equal(problems({ AGENT_ENGINE: "h1" }).length, 0);
    for (const gone of ["undici", "http-proxy"]) assert.match(problems({ AGENT_ENGINE: gone }).join("\n"), /AGENT_ENGINE: .*h1/, gone);
  });

  test("AGENT_FAST_PATH turns the fast path off", () => {
    assert.equal(loadConfig(base).fastPath, true);
    assert.equal(loadConfig({ ...base, AGENT_FAST_PATH: "off" }).fastPath, false);
  });
});
