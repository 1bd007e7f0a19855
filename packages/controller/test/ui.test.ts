import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import express from "express";
import request from "supertest";
import { UI_DIR, uiApi } from "../src/http/ui.js";
import { errorHandler } from "../src/http/errors.js";
import { pino } from "pino";
import { fixturePerTest } from "./fixture.js";

const { fx } = fixturePerTest();

describe("GET /ui/", () => {
  test("serves the built page and its assets without a token, each with a CSP that allows no inline script and no other origin", async () => {
    for (const [path, type] of [["/ui/", "text/html"], ["/ui/app.js", "text/javascript"], ["/ui/style.css", "text/css"]] as const) {
      const r = await request(fx().app).get(path).expect(200);
      assert.ok(String(r.headers["content-type"]).startsWith(type), `${path}: ${r.headers["content-type"]}`);
      const csp = String(r.headers["content-security-policy"]);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
      assert.equal(r.headers["x-content-type-options"], "nosniff");
    }
  });

  test("the page has no inline script or style and names no other origin", async () => {
    const html = (await request(fx().app).get("/ui/").expect(200)).text;
    assert.match(html, /<script type="module" src="\/ui\/app.js"><\/script>/);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "an inline <script>");
    assert.doesNotMatch(html, /<style|style=/);
    assert.doesNotMatch(html, /https?:\/\//);
    // The bundle is self-contained: no import from, or font at, another origin.
    const js = (await request(fx().app).get("/ui/app.js").expect(200)).text;
    assert.doesNotMatch(js, /from\s*["']https?:|import\(\s*["']https?:|fonts\.googleapis/);
    const css = (await request(fx().app).get("/ui/style.css").expect(200)).text;
    assert.doesNotMatch(css, /@import|url\(\s*["']?https?:/);
  });

  test("refuses unknown query parameters, other methods and other files under /ui/", async () => {
    assert.equal((await request(fx().app).get("/ui/?token=abc").expect(400)).body.error, "unknown_parameter");
    assert.equal((await request(fx().app).post("/ui/").expect(405)).body.error, "method_not_allowed");
    // Not a dashboard file: falls through to authentication like any unknown path.
    assert.equal((await request(fx().app).get("/ui/../package.json").expect(401)).body.error, "unauthorized");
    assert.equal((await request(fx().app).get("/ui/secret.js").expect(401)).body.error, "unauthorized");
  });
});

describe("the dashboard before pnpm build", () => {
  const empty = mkdtempSync(join(tmpdir(), "ui-"));
  after(() => rmSync(empty, { recursive: true, force: true }));
  test("answers 503 ui_not_built as JSON, and serves what is there", async () => {
    const app = express().use(uiApi(`${empty}/`)).use(errorHandler(pino({ level: "silent" })));
    const r = await request(app).get("/ui/").expect(503);
    assert.equal(r.body.error, "ui_not_built");
    writeFileSync(join(empty, "style.css"), "body{}");
    assert.equal((await request(app).get("/ui/style.css").expect(200)).text, "body{}");
    assert.ok(UI_DIR.endsWith("/dist/ui/"));
  });
});
