import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readRequestHead } from "../src/serve/front/request-head.js";

const head = (...lines: string[]) => lines.join("\r\n");

describe("fast-path request head", () => {
  test("reads a plain GET: method, target and every field, names as spelled, values trimmed", () => {
    const r = readRequestHead(head("GET /a/b?x=1&y=%20 HTTP/1.1", "Host: a.test", "Accept:  */*  ", "X-Custom: v1"));
    assert.ok(r);
    assert.equal(r.method, "GET");
    assert.equal(r.url, "/a/b?x=1&y=%20");
    assert.deepEqual(r.fields, ["Host", "a.test", "Accept", "*/*", "X-Custom", "v1"]);
  });

  test("decides nothing: hop-by-hop, forwarding, repeated and underscore fields all come through for the passes", () => {
    const lines = [
      "host: a.test", "Host: b.test", "Connection: close, X-Secret", "Keep-Alive: timeout=9", "TE: trailers", "Proxy-Connection: close",
      "X-Real-IP: 6.6.6.6", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-For: 5.6.7.8", "X_Real_IP: 6.6.6.6", "Authorization: a", "Authorization: b", "Content-Length: 0",
    ];
    const r = readRequestHead(head("GET / HTTP/1.1", ...lines));
    assert.ok(r);
    assert.deepEqual(r.fields, lines.flatMap((l) => l.split(": ")));
  });

  test("reuses the object and fields array it is given", () => {
    const into = { method: "", url: "", fields: ["stale", "x"] };
    assert.equal(readRequestHead(head("HEAD /h HTTP/1.1", "Host: a"), into), into);
    assert.deepEqual(into, { method: "HEAD", url: "/h", fields: ["Host", "a"] });
  });

  // Each of these goes to Node's server untouched; none may be read here.
  const leftToNode: [string, string][] = [
    ["a body with a length", head("POST / HTTP/1.1", "Host: a", "Content-Length: 5")],
    ["a second Content-Length, even of 0", head("POST / HTTP/1.1", "Host: a", "Content-Length: 0", "Content-Length: 0")],
    ["a zero Content-Length followed by a tab, which llhttp refuses", head("GET / HTTP/1.1", "Host: a", "Content-Length: 0\t")],
    ["a transfer coding", head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked")],
    ["Expect", head("PUT / HTTP/1.1", "Host: a", "Expect: 100-continue")],
    ["an upgrade", head("GET / HTTP/1.1", "Host: a", "Upgrade: websocket", "Connection: Upgrade")],
    ["HTTP/1.0", head("GET / HTTP/1.0", "Host: a")],
    ["HTTP/2 preface-like versions", head("GET / HTTP/2.0", "Host: a")],
    ["an absolute-form target", head("GET http://a/ HTTP/1.1", "Host: a")],
    ["an asterisk target", head("OPTIONS * HTTP/1.1", "Host: a")],
    ["CONNECT's authority form", head("CONNECT a:443 HTTP/1.1", "Host: a")],
    ["a space inside the target", head("GET /a b HTTP/1.1", "Host: a")],
    ["two spaces after the method", head("GET  / HTTP/1.1", "Host: a")],
    ["a lowercase method", head("get / HTTP/1.1", "Host: a")],
    ["a non-ASCII byte in the target", head("GET /\xe9 HTTP/1.1", "Host: a")],
    ["an obs-folded line", head("GET / HTTP/1.1", "Host: a", "X-A: 1", " continued")],
    ["whitespace before the colon", head("GET / HTTP/1.1", "Host : a")],
    ["a line without a colon", head("GET / HTTP/1.1", "Host: a", "garbage")],
    ["an empty name", head("GET / HTTP/1.1", "Host: a", ": v")],
    ["a NUL in a value", head("GET / HTTP/1.1", "Host: a", "X-A: a\0b")],
    ["a bare LF in a value", head("GET / HTTP/1.1", "Host: a", "X-A: a\nX-B: b")],
    ["a bare CR in a value", head("GET / HTTP/1.1", "Host: a", "X-A: a\rb")],
    ["more than 100 fields", head("GET / HTTP/1.1", "Host: a", ...Array.from({ length: 100 }, (_, i) => `X-${i}: v`))],
    ["an empty head", ""],
  ];
  for (const [what, text] of leftToNode) {
    test(`leaves ${what} to Node's server`, () => {
      assert.equal(readRequestHead(text), undefined);
    });
  }

  test("accepts exactly 100 fields and obs-text in values (latin1, passed on unchanged)", () => {
    const r = readRequestHead(head("GET / HTTP/1.1", "Host: a", ...Array.from({ length: 98 }, (_, i) => `X-${i}: v`), "X-Name: caf\xe9"));
    assert.ok(r);
    assert.deepEqual(r.fields.slice(-2), ["X-Name", "caf\xe9"]);
  });
});
