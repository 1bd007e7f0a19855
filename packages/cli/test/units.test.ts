import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "commander";
import {
  ProgressRenderer, StreamIdle, StreamTooLarge, buildCutoverRequest, parseAt, parseDuration, parseLimit, parseRate, parseRevision, parseRule, parseSteps, parseTarget,
  parseUpstream, parseWaitTimeout, readSse, type SseEvent,
} from "../src/index.js";
import { snapshot } from "./stub.js";

describe("parseUpstream", () => {
  test("pool names and addresses pass through; the controller validates addresses", () => {
    for (const u of ["blue", "10.0.0.1:8080", "[::1]:8080", "unix:/run/app.sock"]) assert.equal(parseUpstream(u), u);
  });
  test("a split becomes { split }", () => {
    assert.deepEqual(parseUpstream("blue=90,green=10"), { split: { blue: 90, green: 10 } });
    assert.deepEqual(parseUpstream("a=100,b=0"), { split: { a: 100, b: 0 } });
  });
  test("bad splits are rejected with a reason", () => {
    const cases: [string, RegExp][] = [
      ["blue=90,green=20", /sum to 100, not 110/],
      ["blue=90,blue=10", /appears twice/],
      ["blue=90,green", /not pool=weight/],
      ["Blue=90,green=10", /not a pool name/],
      ["blue=x,green=10", /not pool=weight/],
      ["", /an upstream is/],
      ["a b", /no spaces/],
    ];
    for (const [raw, why] of cases) assert.throws(() => parseUpstream(raw), (e: Error) => e instanceof InvalidArgumentError && why.test(e.message), raw);
  });
  test("a split never builds an object with an inherited __proto__ key", () => {
    assert.throws(() => parseUpstream("__proto__=100"), /not a pool name/);
  });
});

describe("option parsers", () => {
  test("durations keep the API's string form and take the controller's syntax, compounds included", () => {
    assert.equal(parseDuration("500ms"), "500ms");
    assert.equal(parseDuration(" 2m "), "2m");
    assert.equal(parseDuration("1m30s"), "1m30s");
    assert.equal(parseDuration("1h30m"), "1h30m");
    for (const bad of ["30", "1.5s", "s", "10d", "-1s", "30s1m", "1m1m", ""]) assert.throws(() => parseDuration(bad), InvalidArgumentError, bad);
  });
  test("--timeout is a duration, never bare milliseconds, within the API's 1 ms to 120 s", () => {
    assert.equal(parseWaitTimeout("5s"), 5000);
    assert.equal(parseWaitTimeout("1m30s"), 90_000);
    assert.equal(parseWaitTimeout("250ms"), 250);
    assert.throws(() => parseWaitTimeout("5000"), /a duration is a number with a unit/);
    assert.throws(() => parseWaitTimeout("3m"), /from 1ms to 120s/);
    assert.throws(() => parseWaitTimeout("0s"), /from 1ms to 120s/);
  });
  test("pool targets are ADDRESS or ADDRESS=WEIGHT, as pools print", () => {
    assert.deepEqual(parseTarget("10.0.0.1:8080"), { address: "10.0.0.1:8080" });
    assert.deepEqual(parseTarget("[::1]:8080=3"), { address: "[::1]:8080", weight: 3 });
    assert.deepEqual(parseTarget("unix:/run/app.sock=100"), { address: "unix:/run/app.sock", weight: 100 });
    for (const bad of ["a=0", "a=101", "a=b", "=3", "a b", ""]) assert.throws(() => parseTarget(bad), InvalidArgumentError, bad);
  });
  test("route rules are PATH=UPSTREAM, split at the first =, paths unique", () => {
    const rules = parseRule("/=blue=90,green=10", parseRule("/api/=green"));
    assert.deepEqual(rules, [{ path: "/api/", upstream: "green" }, { path: "/", upstream: { split: { blue: 90, green: 10 } } }]);
    for (const bad of ["api/=green", "/api/", "/a b/=green", "/api/=blue=90"]) assert.throws(() => parseRule(bad), InvalidArgumentError, bad);
    assert.throws(() => parseRule("/api/=blue", rules), /given twice/);
  });
  test("revisions and limits are whole numbers in range", () => {
    assert.equal(parseRevision("42"), 42);
    assert.equal(parseRevision('"42"'), 42, "an ETag pasted as is");
    assert.equal(parseLimit("1000"), 1000);
    for (const bad of ["-1", "4.2", "x"]) assert.throws(() => parseRevision(bad), InvalidArgumentError, bad);
    for (const bad of ["0", "1001", "x"]) assert.throws(() => parseLimit(bad), InvalidArgumentError, bad);
  });
  test("canary steps must be increasing percentages ending at 100", () => {
    assert.deepEqual(parseSteps("5, 25,50,100"), [5, 25, 50, 100]);
    assert.deepEqual(parseSteps("100"), [100]);
    for (const bad of ["5,25", "0,100", "50,50,100", "5,x,100", "", "101"]) assert.throws(() => parseSteps(bad), InvalidArgumentError, bad);
  });
  test("error rates accept fractions and percentages", () => {
    assert.equal(parseRate("0.05"), 0.05);
    assert.equal(parseRate("5%"), 0.05);
    for (const bad of ["1.1", "-0.1", "abc", "%", ""]) assert.throws(() => parseRate(bad), InvalidArgumentError, bad);
  });
  test("--at needs a zone", () => {
    assert.equal(parseAt("2026-11-24T18:00:00+01:00"), "2026-11-24T18:00:00+01:00");
    for (const bad of ["2026-11-24T18:00:00", "tomorrow", "2026-13-45T99:00:00Z"]) assert.throws(() => parseAt(bad), InvalidArgumentError, bad);
  });
  test("buildCutoverRequest leaves out what was not chosen", () => {
    assert.deepEqual(buildCutoverRequest(["a.com"], { to: "green", preflight: true }), { host: "a.com", to: "green" });
    assert.deepEqual(buildCutoverRequest(["a.com"], { to: "green", minRequests: 5 }), { host: "a.com", to: "green", rollback: { minRequests: 5 } });
  });
});

function bodyOf(chunks: string[], thenStall = false): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const s of chunks) c.enqueue(enc.encode(s));
      if (!thenStall) c.close();
    },
  });
}

describe("readSse (eventsource-parser underneath)", () => {
  const frames = ": keepalive\r\n\r\nevent: progress\r\ndata: {\"a\":1}\r\n\r\ndata: line1\ndata:line2\nid: 7\n\n: comment\revent: progress\rdata: x\r\r: the end\n";
  const expected: SseEvent[] = [
    { event: "progress", data: '{"a":1}' },
    { event: "message", data: "line1\nline2", id: "7" },
    { event: "progress", data: "x" },
  ];
  const chunked = (text: string, size: number) => {
    const parts: string[] = [];
    for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
    return parts;
  };
  const all = async (body: ReadableStream<Uint8Array>) => {
    const got: SseEvent[] = [];
    for await (const ev of readSse(body)) got.push(ev);
    return got;
  };

  test("parses CRLF, LF and CR framing, comments and multi-line data, whatever the chunking (CRLF split included)", async () => {
    for (let size = 1; size <= 7; size++) assert.deepEqual(await all(bodyOf(chunked(frames, size))), expected, `chunk size ${size}`);
    assert.deepEqual(await all(bodyOf([frames])), expected);
  });

  test("an event without data, or without its closing blank line, is not dispatched; a BOM is skipped", async () => {
    assert.deepEqual(await all(bodyOf(["\uFEFFevent: progress\n\nretry: 250\ndata: half"])), []);
    assert.deepEqual(await all(bodyOf(["\uFEFFdata: one\n\n"])), [{ event: "message", data: "one" }]);
  });

  test("an event larger than any cutover snapshot ends the stream with StreamTooLarge", async () => {
    const big = "data: " + "x".repeat(5 * 1024 * 1024);
    await assert.rejects(all(bodyOf([big])), StreamTooLarge);
  });

  test("decodes UTF-8 split inside a character and yields events in order", async () => {
    const bytes = new TextEncoder().encode("data: é€\n\ndata: two\n\n");
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(Uint8Array.of(b));
        c.close();
      },
    });
    const got: string[] = [];
    for await (const ev of readSse(body)) got.push(ev.data);
    assert.deepEqual(got, ["é€", "two"]);
  });

  test("a silent stream fails with StreamIdle after idleMs", async () => {
    const got: string[] = [];
    await assert.rejects(async () => {
      for await (const ev of readSse(bodyOf(["data: one\n\n"], true), { idleMs: 50 })) got.push(ev.data);
    }, StreamIdle);
    assert.deepEqual(got, ["one"]);
  });
});

describe("ProgressRenderer", () => {
  test("prints only what is new, and nothing for a repeated snapshot", () => {
    const r = new ProgressRenderer();
    const a = snapshot({ state: "switching", step: { index: 1, total: 2, weight: 10 } });
    const first = r.update(a);
    assert.equal(first.length, 2);
    assert.match(first[1] ?? "", /switching \(step 1\/2, 10%\)$/);
    assert.deepEqual(r.update(a), []);
    const b = { ...a, state: "aborted" as const, reason: "aborted by an operator; nothing had been switched" };
    assert.deepEqual(r.update(b).map((l) => l.slice(10)), ["aborted: aborted by an operator; nothing had been switched"]);
  });
});
