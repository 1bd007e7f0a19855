import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort, startRedis, waitFor } from "@switchyard/testkit";
import { spawnNode } from "../src/index.js";
import { get } from "../src/fleet.js";

test("pnpm demo starts the topology, prints working commands, flips both agents and stops cleanly on Ctrl-C", async () => {
  const redis = await startRedis();
  const [a, b, controllerPort] = [await freePort(), await freePort(), await freePort()];
  const demo = spawnNode("demo", ["scripts/demo.mjs"], {
    REDIS_URL: redis.url,
    SWITCHYARD_PREFIX: "demo-test",
    DEMO_AGENT_PORTS: `${a},${b}`,
    CONTROLLER_PORT: String(controllerPort),
    DEMO_QUIET: "1",
  });
  try {
    await waitFor(() => demo.output().includes("DEMO READY"), { timeoutMs: 30_000, what: `demo ready; output so far:\n${demo.output()}` });
    const out = demo.output();
    const token = /export TOKEN=(\S+)/.exec(out)?.[1];
    assert.ok(token, out);
    for (const port of [a, b]) assert.match((await get("127.0.0.1", port, "demo.local")).body, /^blue-\d/);

    // The printed switch command, as a user would paste it.
    const cmd = /'(http:\/\/127\.0\.0\.1:\d+\/v1\/routes\/demo\.local\?wait=applied&timeout=2000)' -d '(\{[^']+\})'/.exec(out);
    assert.ok(cmd, "the demo prints the switch command");
    const res = await fetch(cmd[1] as string, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: cmd[2] });
    const body = (await res.json()) as { complete: boolean; applied: unknown[] };
    assert.equal(body.complete, true);
    assert.equal(body.applied.length, 2);
    for (const port of [a, b]) assert.match((await get("127.0.0.1", port, "demo.local")).body, /^green-\d/);
  } finally {
    const code = await demo.stop("SIGINT");
    await redis.stop();
    assert.equal(code, 0, demo.output());
  }
});
