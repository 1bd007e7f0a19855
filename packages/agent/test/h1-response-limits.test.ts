import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_HEAD_BYTES, ResponseParseError, ResponseParser } from "../src/serve/h1/response-parser.js";

/**
 * The parser's size limits and its cost do not depend on how the upstream's bytes are cut into
 * reads. Limits: a head of at most MAX_HEAD_BYTES before its blank line, chunk-size and trailer
 * lines of at most 4,096 bytes before their CRLF; a partial terminator at the end of a read is not
 * counted. Cost: linear in the bytes, even one byte per read.
 */

const MAX_LINE = 4096;
const sink = { onHead: () => undefined, onBody: () => undefined, onComplete: () => undefined };

/** Feeds `wire` in pieces cut at `cuts`; "ok" when the response completed, else the refusal. */
function outcome(wire: Buffer, cuts: readonly number[]): string {
  const p = new ResponseParser();
  let complete = false;
  p.start({ ...sink, onComplete: () => (complete = true) }, false);
  try {
    let from = 0;
    for (const to of [...cuts, wire.length]) {
      p.execute(wire.subarray(from, to));
      from = to;
    }
  } catch (e) {
    if (e instanceof ResponseParseError) return e.message;
    throw e;
  }
  return complete ? "ok" : "incomplete";
}

/** A head of exactly `size` bytes before its final CRLFCRLF. */
function headOf(size: number): string {
  const start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ";
  return `${start}${"a".repeat(size - start.length)}`;
}

/**
 * Every cut into two reads from `span` bytes before `at` to `span` after, every cut into three reads
 * around it, and one byte per read over that stretch: all must give the unsplit outcome.
 */
function assertSegmentationFree(wire: Buffer, at: number, expected: string, span = 6): void {
  const whole = outcome(wire, []);
  assert.equal(whole, expected, "unsplit");
  const lo = Math.max(1, at - span);
  const hi = Math.min(wire.length - 1, at + span);
  for (let a = lo; a <= hi; a++) {
    assert.equal(outcome(wire, [a]), expected, `cut at ${a} (limit at ${at})`);
    for (let b = a + 1; b <= hi; b++) assert.equal(outcome(wire, [a, b]), expected, `cuts at ${a}, ${b} (limit at ${at})`);
  }
  const bytewise: number[] = [];
  for (let c = lo; c <= hi; c++) bytewise.push(c);
  assert.equal(outcome(wire, bytewise), expected, "one byte per read around the limit");
}

describe("h1 response parser limits and cost", () => {
  test("a head of 16,382 to 16,386 bytes passes or fails by its size alone, wherever the reads end", () => {
    for (let size = MAX_HEAD_BYTES - 2; size <= MAX_HEAD_BYTES + 2; size++) {
      const wire = Buffer.from(`${headOf(size)}\r\n\r\n`, "latin1");
      const expected = size <= MAX_HEAD_BYTES ? "ok" : "response head exceeds 16 KiB";
      // Around the end of the head's text and across its terminator.
      assertSegmentationFree(wire, size, expected);
    }
  });

  test("a head that ends its last full read on a line break still counts only its own bytes", () => {
    // The read stops after a header line's CRLF and the next line comes later: the CRLF is counted
    // once the next line starts, as it would be unsplit.
    const size = MAX_HEAD_BYTES;
    const text = `${headOf(size - 8)}\r\nX-B: 1`;
    assert.equal(text.length, size);
    const wire = Buffer.from(`${text}\r\n\r\n`, "latin1");
    assertSegmentationFree(wire, size - 8, "ok", 10);
    const over = Buffer.from(`${text}2\r\n\r\n`, "latin1");
    assertSegmentationFree(over, size - 8, "response head exceeds 16 KiB", 10);
  });

  test("a chunk-size line of 4,094 to 4,098 bytes passes or fails by its length alone, wherever the reads end", () => {
    const start = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (let len = MAX_LINE - 2; len <= MAX_LINE + 2; len++) {
      const line = `1;${"e".repeat(len - 2)}`;
      const wire = Buffer.from(`${start}${line}\r\nx\r\n0\r\n\r\n`, "latin1");
      assertSegmentationFree(wire, start.length + len, len <= MAX_LINE ? "ok" : "chunk-size or trailer line too long");
    }
  });

  test("a trailer line of 4,094 to 4,098 bytes passes or fails by its length alone, wherever the reads end", () => {
    const start = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n";
    for (let len = MAX_LINE - 2; len <= MAX_LINE + 2; len++) {
      const line = `X: ${"t".repeat(len - 3)}`;
      const wire = Buffer.from(`${start}${line}\r\n\r\n`, "latin1");
      assertSegmentationFree(wire, start.length + len, len <= MAX_LINE ? "ok" : "chunk-size or trailer line too long");
    }
  });

  test("a head over the limit is refused as soon as its bytes arrive, before any end", () => {
    const p = new ResponseParser();
    p.start(sink, false);
    const wire = Buffer.from(headOf(MAX_HEAD_BYTES + 1), "latin1");
    p.execute(wire.subarray(0, MAX_HEAD_BYTES));
    assert.throws(() => p.execute(wire.subarray(MAX_HEAD_BYTES)), /16 KiB/);
  });

  /** CPU milliseconds of this process while `fn` runs: the best of `rounds`, so a busy machine inflates it least. */
  function cpuMs(fn: () => void, rounds: number): number {
    let best = Infinity;
    for (let r = 0; r < rounds; r++) {
      const t = process.cpuUsage();
      fn();
      const d = process.cpuUsage(t);
      best = Math.min(best, (d.user + d.system) / 1000);
    }
    return best;
  }

  /** Feeds each response to a fresh parser one byte per read. */
  function bytewise(responses: readonly Buffer[]): () => void {
    return () => {
      for (const wire of responses) {
        const p = new ResponseParser();
        let complete = false;
        p.start({ ...sink, onComplete: () => (complete = true) }, false);
        for (let i = 0; i < wire.length; i++) p.execute(wire.subarray(i, i + 1));
        assert.ok(complete);
      }
    };
  }

  const padded = (total: number, status = "200 OK", framing = "Content-Length: 0\r\n") => {
    const start = `HTTP/1.1 ${status}\r\n${framing}X-Pad: `;
    return `${start}${"a".repeat(total - 4 - start.length)}\r\n\r\n`;
  };
  const KiB = 1024;

  // Each case compares long elements delivered one byte per read with elements 64 times shorter,
  // delivered the same way, per byte: a linear parser costs the same for both, a quadratic one far
  // more for the long ones (before the fix: 5 to 6 times). Factor 3 leaves room for a noisy machine.
  const CASES: { name: string; long: Buffer[]; short: Buffer[] }[] = [
    {
      name: "one 16 KiB head",
      long: [Buffer.from(padded(16 * KiB), "latin1")],
      short: Array.from({ length: 64 }, () => Buffer.from(padded(256), "latin1")),
    },
    {
      // At most 8 informational heads per response.
      name: "eight 16 KiB 103 heads, then the response",
      long: [Buffer.from(`${padded(16 * KiB, "103 Early Hints", "").repeat(8)}${padded(256)}`, "latin1")],
      short: Array.from({ length: 64 }, () => Buffer.from(`${padded(256, "103 Early Hints", "").repeat(8)}${padded(256)}`, "latin1")),
    },
    {
      name: "a 4 KiB chunk-size line and a 4 KiB trailer line",
      long: [Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${"e".repeat(4090)}\r\nx\r\n0\r\nX: ${"t".repeat(4090)}\r\n\r\n`, "latin1")],
      short: [Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${`1;${"e".repeat(60)}\r\nx\r\n`.repeat(64)}0\r\n${`X${"t".repeat(60)}: 1\r\n`.repeat(64)}\r\n`, "latin1")],
    },
  ];

  for (const c of CASES) {
    test(`${c.name}, one byte per read, costs linear CPU (per byte within 3x of pieces 64 times shorter)`, (t) => {
      const long = bytewise(c.long);
      const short = bytewise(c.short);
      long();
      short(); // warm up the JIT on both
      const longBytes = c.long.reduce((n, b) => n + b.length, 0);
      const shortBytes = c.short.reduce((n, b) => n + b.length, 0);
      const longMs = cpuMs(long, 5);
      const shortMs = cpuMs(short, 5);
      // What the long elements would cost at the short ones' rate per byte (at least 1 ms: CPU clocks are coarse).
      const linear = Math.max((shortMs * longBytes) / shortBytes, 1);
      const perKiB = (ms: number, bytes: number) => ((ms * KiB) / bytes).toFixed(3);
      t.diagnostic(`${c.name}: ${perKiB(longMs, longBytes)} ms/KiB (${longMs.toFixed(2)} ms); short pieces ${perKiB(shortMs, shortBytes)} ms/KiB`);
      assert.ok(longMs <= 3 * linear, `${longMs.toFixed(1)} ms where a linear parser would take about ${linear.toFixed(1)} ms`);
    });
  }
});
