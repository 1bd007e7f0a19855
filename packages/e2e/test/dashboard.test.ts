import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { buildKeys } from "@switchyard/shared";
import { freePort, randomPrefix, readyClient, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { TOKEN, get, startFleet, type Fleet } from "../src/fleet.js";
import { finished, startCutover } from "../src/cutover.js";
import { OUTPUT_DIR, launchChromium, openPage, signIn } from "./browser.js";

/**
 * The dashboard in a real headless Chromium against a real controller, redis-server and two agent
 * processes. Every page records console errors and uncaught exceptions; the last claim is that
 * there were none.
 */

const READ_TOKEN = "e2e-read-token-0123456789abcdef";
const HOST = "dash.test";
const PREFIX = randomPrefix("ui");
let redis: RedisHandle;
let fleet: Fleet;
let browser: Browser;
let reader: Page;
const consoleErrors: string[] = [];

before(async () => {
  // The browser first: without Chromium this fails at once, with the fix in the message.
  browser = await launchChromium();
  redis = await startRedis();
  fleet = await startFleet(redis, PREFIX, ["127.0.0.2", "127.0.0.3"], {}, { SWITCHYARD_TOKENS: `e2e:write:${TOKEN},viewer:read:${READ_TOKEN}`, CUTOVER_SAMPLE_MS: "250" });
  const pool = (addrs: string[]) => ({ targets: addrs.map((address) => ({ address })) });
  assert.equal((await fleet.api("PUT", "/v1/pools/blue", pool(fleet.apps.blue))).status, 200);
  assert.equal((await fleet.api("PUT", "/v1/pools/green", pool(fleet.apps.green))).status, 200);
  assert.equal((await fleet.api("PUT", `/v1/routes/${HOST}?wait=applied&timeout=5000`, { upstream: "blue" })).body.complete, true);
  reader = await openPage(browser, consoleErrors);
});
after(async () => {
  await browser?.close();
  await fleet?.stop();
  await redis?.stop();
});

const upstreamCell = (page: Page) => page.locator(`tr[data-host="${HOST}"] [data-testid=upstream]`);
const agentRevisions = (page: Page) =>
  page.$$eval("tr[data-agent]", (rows) => rows.map((r) => [r.getAttribute("data-agent"), r.querySelector("[data-testid=agent-revision]")?.textContent]));

describe("the dashboard at /ui/ in headless Chromium", () => {
  test("login with a read token shows the routes and every agent with its revision, and keeps the token out of the URL", async () => {
    await signIn(reader, fleet.controllerUrl, READ_TOKEN);
    await waitFor(async () => (await upstreamCell(reader).textContent()) === "blue", { what: "route on screen", timeoutMs: 10_000 });
    const revision = (await fleet.api("GET", "/v1/state")).body.revision as number;
    await waitFor(async () => (await agentRevisions(reader)).length === 2, { what: "both agents on screen", timeoutMs: 10_000 });
    await waitFor(async () => (await agentRevisions(reader)).every(([, rev]) => rev === String(revision)), { what: `agents at revision ${revision}`, timeoutMs: 10_000 });
    assert.deepEqual((await agentRevisions(reader)).map(([id]) => id), fleet.agents.map((a) => a.id));
    assert.equal(await reader.textContent("[data-testid=scope]"), "read");
    assert.ok(!reader.url().includes(READ_TOKEN), reader.url());
    assert.equal(await reader.evaluate("sessionStorage.getItem('switchyard.token')"), READ_TOKEN);
    assert.equal(await reader.evaluate("localStorage.length"), 0);
  });

  test("write controls are absent for a read token and present for a write token", async () => {
    assert.equal(await reader.locator("[data-write]").count(), 0);
    assert.equal(await reader.locator("form[aria-label='Start a cutover']").count(), 0);
    assert.equal(await reader.locator("dialog").count(), 0);
    const writer = await openPage(browser, consoleErrors);
    try {
      await signIn(writer, fleet.controllerUrl, TOKEN);
      await writer.waitForSelector(`tr[data-host="${HOST}"] [data-write=switch]`);
      assert.ok((await writer.locator("[data-write]").count()) >= 2);
    } finally {
      await writer.close();
    }
  });

  test("a switch made through the API appears within 2 s, without a reload", async () => {
    const marker = await reader.evaluate("window.marker = Math.random()");
    const started = Date.now();
    const r = await fleet.api("PUT", `/v1/routes/${HOST}`, { upstream: "green" });
    assert.equal(r.status, 200);
    await upstreamCell(reader).filter({ hasText: "green" }).waitFor({ timeout: 2000 });
    const ms = Date.now() - started;
    assert.equal(await reader.evaluate("window.marker"), marker, "the page was not reloaded");
    await waitFor(async () => (await agentRevisions(reader)).every(([, rev]) => rev === String(r.body.revision)), { what: "agents' new revision on screen", timeoutMs: 5000 });
    console.log(`# switch through the API -> on screen in ${ms} ms`);
  });

  test("a canary cutover's steps advance on screen, with acks per step", async () => {
    await fleet.api("PUT", `/v1/routes/${HOST}?wait=applied&timeout=5000`, { upstream: "blue" });
    const id = await startCutover(fleet, { host: HOST, to: "green", strategy: { canary: { steps: [20, 60, 100], interval: "2s" } }, bake: "1s", preflight: false });
    const card = reader.locator(`[data-cutover="${id}"]`);
    // A little traffic through both agents, so the error-rate chart has readings (bounded).
    let sent = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop && sent < 2000) {
        for (const a of fleet.agents) await get(a.host, a.port, HOST).catch(() => undefined);
        sent += fleet.agents.length;
      }
    })();
    const seen: string[] = [];
    try {
      // Each step is seen done on screen, in order, while the cutover runs.
      for (const step of [1, 2, 3]) {
        await card.locator(`tr[data-step="${step}"].done`).waitFor({ timeout: 30_000 });
        seen.push(`${step}:${await card.locator("[data-testid=cutover-state]").textContent()}`);
        assert.equal(await card.locator(`tr[data-step="${step}"] [data-testid=step-acks]`).textContent(), "2 / 2");
        // Steps not yet written are listed too: the total is the plan's.
        assert.equal(await card.locator("tr[data-step]").count(), 3);
        assert.match((await card.locator("[data-testid=cutover-progress]").textContent()) ?? "", / of 3/);
        if (step === 1) {
          // Mid-cutover: step 2 written (the route is a blue/green split), not yet done.
          await card.locator('tr[data-step="2"].current').waitFor({ timeout: 30_000 });
          await reader.screenshot({ path: join(OUTPUT_DIR, "dashboard-cutover.png"), fullPage: true });
        }
      }
      await card.locator("[data-testid=cutover-state]", { hasText: "succeeded" }).waitFor({ timeout: 30_000 });
    } finally {
      stop = true;
      await traffic;
    }
    assert.equal((await finished(fleet, id)).state, "succeeded");
    assert.equal(await upstreamCell(reader).textContent(), "green");
    const shot = join(OUTPUT_DIR, "dashboard.png");
    await reader.screenshot({ path: shot, fullPage: true });
    console.log(`# canary steps seen on screen: ${seen.join(" ")}; ${sent} requests sent; screenshots: ${shot}, ${join(OUTPUT_DIR, "dashboard-cutover.png")}`);
  });

  test("a write token switches a route by keyboard through a confirmation dialog; Cancel writes nothing; rollback from the history", async () => {
    const writer = await openPage(browser, consoleErrors);
    try {
      await signIn(writer, fleet.controllerUrl, TOKEN);
      await upstreamCell(writer).filter({ hasText: "green" }).waitFor({ timeout: 10_000 });
      const before = (await fleet.api("GET", "/v1/state")).body.revision as number;
      // Keyboard only: focus the labelled select (it offers blue, the pool not in use), Tab to Switch, Enter.
      await writer.getByLabel(`New upstream for ${HOST}`).focus();
      assert.equal(await writer.getByLabel(`New upstream for ${HOST}`).inputValue(), "blue");
      await writer.keyboard.press("Tab");
      await writer.keyboard.press("Enter");
      const dialog = writer.locator("dialog[open]");
      await dialog.waitFor();
      assert.match((await dialog.textContent()) ?? "", /to pool blue/);
      await writer.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      assert.equal((await fleet.api("GET", "/v1/state")).body.revision, before, "cancelled: nothing written");
      await writer.getByLabel(`New upstream for ${HOST}`).focus();
      await writer.keyboard.press("Tab");
      await writer.keyboard.press("Enter");
      await dialog.waitFor();
      // The Confirm button has focus in the modal dialog.
      await writer.keyboard.press("Enter");
      await upstreamCell(writer).filter({ hasText: "blue" }).waitFor({ timeout: 5000 });
      assert.equal((await fleet.api("GET", `/v1/routes/${HOST}`)).body.upstream, "blue");
      await upstreamCell(reader).filter({ hasText: "blue" }).waitFor({ timeout: 2000 });
      await writer.screenshot({ path: join(OUTPUT_DIR, "dashboard-write.png"), fullPage: true });
      // The switch's diff, opened from the read-only page: green before, blue after.
      const entry = reader.locator(`li[data-revision="${before + 1}"]`);
      await entry.getByRole("button", { name: "Diff" }).click();
      await entry.locator(".diff td.after", { hasText: '"blue"' }).waitFor({ timeout: 5000 });
      assert.match((await entry.locator(".diff td.before").textContent()) ?? "", /"green"/);
      // Roll back to the revision before the switch: green again, seen by the read-only page too.
      await writer.locator(`li[data-revision="${before}"] [data-write=rollback]`).click();
      await dialog.waitFor();
      await dialog.getByRole("button", { name: "Confirm" }).click();
      await upstreamCell(reader).filter({ hasText: "green" }).waitFor({ timeout: 2000 });
      await writer.getByRole("status").filter({ hasText: `Rolled back to ${before}` }).waitFor({ timeout: 5000 });
    } finally {
      await writer.close();
    }
  });

  test("an agent that joins behind the fleet appears live, is highlighted as a straggler after 5 s, and disappears when it leaves", async () => {
    // A stand-in agent: a heartbeat record one revision behind, written as an agent writes it.
    const keys = buildKeys(PREFIX);
    const cmd = await readyClient(redis.url);
    try {
      const revision = (await fleet.api("GET", "/v1/state")).body.revision as number;
      const now = Date.now();
      const rec = { id: "edge-late", epoch: await cmd.get(keys.epoch), revision: revision - 1, appliedAt: now, startedAt: now, version: "0.0.9", address: "127.0.0.9:8080", seenAt: now };
      await cmd.multi().set(keys.agent(rec.id), JSON.stringify(rec), "PX", 20_000).zadd(keys.agents, now + 20_000, rec.id).exec();
      const row = reader.locator('tr[data-agent="edge-late"]');
      await row.waitFor({ timeout: 5000 });
      await row.locator(".badge", { hasText: "straggler" }).waitFor({ timeout: 15_000 });
      assert.match((await row.getAttribute("class")) ?? "", /warn/);
      // The fleet's own agents are not.
      for (const a of fleet.agents) assert.doesNotMatch((await reader.locator(`tr[data-agent="${a.id}"]`).getAttribute("class")) ?? "", /warn/);
      await cmd.multi().del(keys.agent(rec.id)).zrem(keys.agents, rec.id).exec();
      await row.waitFor({ state: "detached", timeout: 5000 });
    } finally {
      cmd.disconnect();
    }
  });

  test("a pool with one dead target shows it not healthy on screen, per agent on hover, while the live target shows healthy", async () => {
    // A port nothing listens on: every active check fails to connect.
    const dead = `127.0.0.1:${await freePort()}`;
    const live = fleet.apps.blue[0]!;
    const hc = { path: "/", interval: "500ms", timeout: "300ms", healthyThreshold: 1, unhealthyThreshold: 2, expectStatus: "200-499" };
    assert.equal((await fleet.api("PUT", "/v1/pools/halfdead", { targets: [{ address: live }, { address: dead }], healthCheck: hc })).status, 200);
    assert.equal((await fleet.api("PUT", "/v1/routes/health.dash.test?wait=applied&timeout=5000", { upstream: "halfdead" })).body.complete, true);
    const badge = (address: string) => reader.locator(`tr[data-host="health.dash.test"] li[data-target="${address}"] [data-health]`);
    const started = Date.now();
    await waitFor(async () => ["unhealthy", "ejected"].includes((await badge(dead).getAttribute("data-health").catch(() => null)) ?? ""), { what: "dead target not healthy on screen", timeoutMs: 15_000 });
    const ms = Date.now() - started;
    await waitFor(async () => (await badge(live).getAttribute("data-health").catch(() => null)) === "healthy", { what: "live target healthy on screen", timeoutMs: 10_000 });
    // Once every agent has seen it fail, the badge names no partial count and the title has each agent's view.
    await waitFor(async () => !(await badge(dead).textContent())?.includes(" of "), { what: "every agent agrees", timeoutMs: 10_000 });
    const title = (await badge(dead).getAttribute("title")) ?? "";
    for (const a of fleet.agents) assert.match(title, new RegExp(`${a.id}: (unhealthy|ejected)`));
    assert.equal(await badge(live).textContent(), "healthy");
    const shot = join(OUTPUT_DIR, "dashboard-health.png");
    await reader.screenshot({ path: shot, fullPage: true });
    console.log(`# dead target (active check 500 ms x 2) -> not healthy on screen in ${ms} ms; screenshot: ${shot}`);
  });

  test("no console errors or uncaught exceptions on any page", () => {
    assert.deepEqual(consoleErrors, []);
  });
});
