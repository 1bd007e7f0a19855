import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ResponseParseError, ResponseParser, type ResponseHead } from "../src/serve/h1/response-parser.js";

/** Parses `wire` fed in the given pieces; returns what the sink saw, or the error thrown. */
function parse(pieces: readonly string[], opts: { head?: boolean; close?: boolean } = {}) {
  const p = new ResponseParser();
  const seen = { head: undefined as ResponseHead | undefined, body: "", complete: false, lastFlags: [] as boolean[] };
  p.start(
    {
      onHead: (h) => (seen.head = h),
      onBody: (c, last) => {
        seen.body += c.toString("latin1");
        seen.lastFlags.push(last);
      },
      onComplete: () => (seen.complete = true),
    },
    opts.head ?? false,
  );
  // A reused read buffer, as the engine's: whatever the parser keeps must be a copy.
  const scratch = Buffer.alloc(64 * 1024);
  for (const piece of pieces) {
    const n = scratch.write(piece, "latin1");
    p.execute(scratch.subarray(0, n));
    scratch.fill(0x5a);
  }
  if (opts.close) p.finish();
  return { ...seen, trailing: p.trailing };
}

/** Every way of cutting `wire` in two: the parser's answer must not depend on where reads split. */
function everySplit(wire: string, check: (r: ReturnType<typeof parse>) => void, opts: { head?: boolean; close?: boolean } = {}) {
  for (let i = 0; i <= wire.length; i++) check(parse([wire.slice(0, i), wire.slice(i)], opts));
}

const refused = (pieces: readonly string[], re: RegExp, opts: { head?: boolean; close?: boolean } = {}) =>
  assert.throws(() => parse(pieces, opts), (e: unknown) => e instanceof ResponseParseError && re.test(e.message));

describe("h1 response parser", () => {
  test("reads a Content-Length response the same wherever the reads split it", () => {
    everySplit("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", (r) => {
      assert.equal(r.head?.status, 200);
      assert.equal(r.head?.reason, "OK");
      assert.deepEqual(r.head?.rawHeaders, ["Content-Type", "text/plain", "Content-Length", "5"]);
      assert.equal(r.body, "hello");
      assert.equal(r.complete, true);
      assert.equal(r.head?.keepAlive, true);
      assert.equal(r.lastFlags.at(-1), true, "the chunk completing the body is flagged last");
    });
  });

  test("decodes chunked bodies with extensions and trailers wherever the reads split them", () => {
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1;q="a \\"b\\""\r\nhello\r\nA;x\r\n, chunked!\r\n0\r\nX-Trailer: t\r\n\r\n';
    everySplit(wire, (r) => {
      assert.equal(r.body, "hello, chunked!");
      assert.equal(r.complete, true);
      assert.equal(r.trailing, false);
    });
  });

  test("a body until close completes only when the upstream closes, and is never reusable", () => {
    const r = parse(["HTTP/1.1 200 OK\r\n\r\npart one, ", "part two"], { close: true });
    assert.equal(r.body, "part one, part two");
    assert.equal(r.complete, true);
    assert.equal(r.head?.keepAlive, false);
  });

  test("HEAD, 204 and 304 responses have no body, whatever their framing headers say", () => {
    assert.equal(parse(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"], { head: true }).complete, true);
    assert.equal(parse(["HTTP/1.1 204 No Content\r\n\r\n"]).complete, true);
    assert.equal(parse(["HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"]).complete, true);
  });

  test("skips 100 and 103 heads and reads the final response", () => {
    const r = parse(["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"]);
    assert.equal(r.head?.status, 201);
    assert.equal(r.body, "ok");
  });

  test("keep-alive follows the version and Connection; a Keep-Alive timeout is read as a hint", () => {
    assert.equal(parse(["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]).head?.keepAlive, false);
    assert.equal(parse(["HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"]).head?.keepAlive, true);
    assert.equal(parse(["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"]).head?.keepAlive, false);
    assert.equal(parse(["HTTP/1.1 200 OK\r\nKeep-Alive: timeout=3, max=100\r\nContent-Length: 0\r\n\r\n"]).head?.idleHintMs, 3000);
  });

  test("flags bytes after the end of a response", () => {
    assert.equal(parse(["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"]).trailing, true);
    assert.equal(parse(["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]).trailing, false);
  });

  test("accepts repeated identical Content-Length values and passes on one plain value", () => {
    const r = parse(["HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok"]);
    assert.equal(r.body, "ok");
    assert.deepEqual(r.head?.rawHeaders, ["Content-Length", "2", "X-A", "1"]);
  });

  const REFUSED: [string, string, RegExp][] = [
    ["Content-Length with Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", /both/],
    ["conflicting Content-Length values", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", /conflicting/],
    ["a signed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", /Content-Length/],
    ["chunked before another coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", /final/],
    ["an obs-folded header", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n", /header line/],
    ["space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", /header line/],
    ["a bare LF inside the head", "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 0\r\n\r\n", /header/],
    ["a NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", /value/],
    ["a two-digit status", "HTTP/1.1 20 OK\r\n\r\n", /status line/],
    ["HTTP/2 in the status line", "HTTP/2.0 200 OK\r\n\r\n", /status line/],
    ["a 101 nobody asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", /101/],
    ["a malformed chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /chunk size/],
    ["chunk data without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n", /CRLF/],
    // F1: llhttp reads `chunked<TAB>` as not chunked (body until close) and refuses a tab in a length.
    ["a tab after chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n", /Transfer-Encoding/],
    ["a space and a tab after chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \t\r\n\r\n0\r\n\r\n", /Transfer-Encoding/],
    ["a tab after gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\t\r\n\r\n0\r\n\r\n", /Transfer-Encoding/],
    ["a tab after a Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 3\t\r\n\r\nabc", /Content-Length/],
    // NBSP (0xA0) is whitespace to String.prototype.trim, not to llhttp: chunked<NBSP> is not chunked there.
    ["a no-break space after chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\xa0\r\n\r\n0\r\n\r\n", /Transfer-Encoding/],
    ["a no-break space before a Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: \xa03\r\n\r\nabc", /Content-Length/],
    ["a transfer coding that is not a token", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip;q=1, chunked\r\n\r\n0\r\n\r\n", /Transfer-Encoding/],
    ["a tab after a Content-Length on a 204", "HTTP/1.1 204 No Content\r\nContent-Length: 0\t\r\n\r\n", /Content-Length/],
    // llhttp refuses these too: whitespace or a bare `;` in a chunk-size line, a malformed extension.
    ["whitespace after a chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", /chunk size/],
    ["an empty chunk extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n", /chunk size/],
    ["a chunk extension value that is neither token nor quoted string", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b/c\r\nabc\r\n0\r\n\r\n", /chunk size/],
    ["an unterminated quoted chunk extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\r\nabc\r\n0\r\n\r\n", /chunk size/],
    // RFC 9110 §6.5.1: framing fields have no place in trailers (llhttp refuses a Content-Length there).
    ["a Content-Length trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", /trailer/],
  ];
  for (const [name, wire, re] of REFUSED) {
    test(`refuses ${name}`, () => refused([wire], re));
  }

  test("refuses a bare-LF head at its first bare LF, not after waiting for a blank line that never comes", () => {
    const wire = "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi";
    const firstLf = wire.indexOf("\n");
    refused([wire], /bare LF/);
    // Wherever the reads split it, the read holding that LF is refused.
    for (let cut = firstLf + 1; cut <= wire.length; cut++) refused([wire.slice(0, cut), wire.slice(cut)], /bare LF/);
    for (let cut = 1; cut <= firstLf; cut++) {
      const p = new ResponseParser();
      p.start({ onHead: () => undefined, onBody: () => undefined, onComplete: () => undefined }, false);
      p.execute(Buffer.from(wire.slice(0, cut), "latin1"));
      assert.throws(() => p.execute(Buffer.from(wire.slice(cut), "latin1")), /bare LF/);
    }
  });

  test("refuses at once a head that cannot become valid: a CR without its LF, or no HTTP/1.x status line", () => {
    refused(["HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n"], /CR/);
    refused(["HTTP/1.1 200 OK\rX"], /CR/);
    refused(["SSH-2.0-OpenSSH_9.2\r\n"], /status line/);
    refused(["\r\nHTTP/1.1 200 OK\r\n"], /status line/);
    refused(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc"], /bare LF/);
    refused(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r", "x"], /CR/);
    refused(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\n"], /bare LF/);
  });

  test("refuses a head over 16 KiB, whether or not its end has arrived", () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(17_000)}`;
    refused([big], /16 KiB/);
    refused([`${big}\r\n\r\n`], /16 KiB/);
  });

  test("refuses a pathological trailer line in linear time", () => {
    const started = performance.now();
    refused([`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nx:${"\t".repeat(4000)}\x01\r\n\r\n`], /trailer/);
    const took = performance.now() - started;
    assert.ok(took < 100, `took ${took.toFixed(1)} ms`);
  });

  test("counts an informational head as the response having started, and caps how many may come", () => {
    const p = new ResponseParser();
    p.start({ onHead: () => undefined, onBody: () => undefined, onComplete: () => undefined }, false);
    p.execute(Buffer.from("HTTP/1.1 103 Early Hints\r\n\r\n", "latin1"));
    assert.equal(p.started, true);
    refused(["HTTP/1.1 100 Continue\r\n\r\n".repeat(9)], /informational/);
  });

  test("a close before the response ends is an error, and says whether any of it arrived", () => {
    refused(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], /mid-response/, { close: true });
    refused([], /without a response/, { close: true });
  });
});
