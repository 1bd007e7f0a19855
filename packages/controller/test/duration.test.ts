// The cutover API reads durations with the shared parser the CLI uses, with its limits and messages.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CutoverRequest } from "../src/cutover/spec.js";

test("cutover durations accept compounds such as 1m30s, and keep their limits and message", () => {
  const ok = CutoverRequest.parse({ host: "a.local", to: "green", strategy: { canary: { steps: [50, 100], interval: "1m30s" } }, bake: "1h30m", ackTimeout: "2s500ms" });
  assert.deepEqual(ok.strategy, { canary: { steps: [50, 100], interval: 90_000 } });
  assert.equal(ok.bake, 5_400_000);
  assert.equal(ok.ackTimeout, 2500);
  for (const [field, value] of [["bake", "30"], ["bake", "25h"], ["ackTimeout", "10m1s"]] as const) {
    const r = CutoverRequest.safeParse({ host: "a.local", to: "green", [field]: value });
    assert.equal(r.success, false, `${field}=${value}`);
    assert.match(r.error?.issues[0]?.message ?? "", /^must be a duration such as 500ms, 30s or 2m, at most \d+s$/);
  }
});
