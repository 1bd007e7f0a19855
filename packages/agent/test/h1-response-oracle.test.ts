import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { seeded } from "@switchyard/testkit";
import { h1Framing, llhttpFraming, type Framing } from "./llhttp-oracle.js";

/**
 * h1's response parser against llhttp (Node's own client parser) as the oracle, over generated
 * framing variants. The property: whatever h1 accepts, llhttp frames identically (same status,
 * same body bytes, complete on the same byte, or both only at close). h1 may refuse more than
 * llhttp, never less, and never frame a response another way: a proxy and the client behind it
 * reading one response two ways is how responses get smuggled into another client's exchange.
 */

const BODY = "3\r\nabc\r\n0\r\n\r\n"; // a chunked body, or 13 (or 3) bytes of a fixed one
// NBSP (0xA0) is whitespace to String.prototype.trim but not to llhttp.
const WS = ["", " ", "\t", " \t", "\t ", "  ", "\xa0", " \xa0"];
const TE_VALUES = [
  "chunked", "Chunked", "CHUNKED", "gzip, chunked", "gzip,chunked", "gzip ,chunked", "gzip,\tchunked", "gzip,  chunked",
  "chunked, gzip", "identity", "gzip", "x-chunked", "chunkedx", "chunked;q=1", ",chunked", "chunked,", "chunked, ",
  "identity, chunked", "chunked chunked", "chunked\x0b", "\x0bchunked",
];
const CL_VALUES = ["13", "013", "3", "0", "13, 13", "13,13", "13 ,13", "13\t,13", "+13", "-13", "13 13", "0xd", "", "13,", ",13", "3, 13", "1.3e1", "13.0"];
const CONNECTION_VALUES = ["close", "keep-alive", "Keep-Alive", "close, x", "x, close", "x,close", "upgrade", "closed", "keep-alive, close"];

/** The wire with one Content-Length in its final head, when h1 accepted repeats that agree (see `disagreement`). */
function repeatedAgreeingLength(wire: string): string | undefined {
  let start = 0;
  let end = wire.indexOf("\r\n\r\n");
  // Past the informational heads, to the final one.
  while (end >= 0 && /^HTTP\/1\.[01] 1[0-9][0-9]/.test(wire.slice(start, start + 12))) {
    start = end + 4;
    end = wire.indexOf("\r\n\r\n", start);
  }
  if (end < 0) return undefined;
  const lines = wire.slice(start, end).split("\r\n");
  const values: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (line.slice(0, colon).toLowerCase() !== "content-length") continue;
    // Spaces only: a tab next to a length is exactly what must not be excused here (F1).
    for (const part of line.slice(colon + 1).split(",")) values.push(part.replace(/^ +| +$/g, ""));
  }
  if (values.length < 2 || !values.every((v) => /^[0-9]+$/.test(v) && Number(v) === Number(values[0]))) return undefined;
  const kept = lines.filter((l) => !/^content-length:/i.test(l));
  return `${wire.slice(0, start)}${kept.join("\r\n")}\r\nContent-Length: ${Number(values[0])}${wire.slice(end)}`;
}

const pretty = (f: Framing) => JSON.stringify(f);

/**
 * Checks one response both ways; returns a description of the disagreement, or undefined. One
 * deliberate difference: repeated Content-Length values that agree (`2, 2`, or two lines) are
 * accepted by h1 as RFC 9110 §8.6 allows and passed on as one plain value, where llhttp refuses them;
 * llhttp is then asked about the single value h1 passes on.
 */
function disagreement(wire: string, headRequest = false): string | undefined {
  const bytes = Buffer.from(wire, "latin1");
  const h1 = h1Framing(bytes, headRequest, 1);
  const whole = h1Framing(bytes, headRequest, Infinity);
  const at = `${JSON.stringify(wire)}${headRequest ? " (HEAD)" : ""}`;
  if ("error" in h1 !== "error" in whole) return `${at}: byte by byte ${pretty(h1)}, all at once ${pretty(whole)}`;
  if ("error" in h1 || "error" in whole) return undefined; // refused: always allowed
  if (h1.status !== whole.status || h1.body !== whole.body || (h1.end === "close") !== (whole.end === "close"))
    return `${at}: byte by byte ${pretty(h1)}, all at once ${pretty(whole)}`;
  let oracle = llhttpFraming(bytes, headRequest);
  const single = "error" in oracle ? repeatedAgreeingLength(wire) : undefined;
  if (single !== undefined) oracle = llhttpFraming(Buffer.from(single, "latin1"), headRequest);
  if ("error" in oracle) return `${at}: h1 accepts ${pretty(h1)}, llhttp refuses (${oracle.error})`;
  if (oracle.status !== h1.status || oracle.body !== h1.body) return `${at}: h1 ${pretty(h1)}, llhttp ${pretty(oracle)}`;
  const shift = single === undefined ? 0 : single.length - wire.length;
  const oracleEnd = oracle.end === "close" ? "close" : oracle.end - shift;
  if (oracleEnd !== h1.end) return `${at}: h1 ends at ${h1.end}, llhttp at ${oracleEnd}`;
  // Reuse: h1 may keep fewer connections than llhttp would, never more. After a HEAD, Node's client
  // (and llhttp's verdict) closes unless the response had a length; the exchange never pools after
  // HEAD anyway, so that difference is not the parser's to settle.
  if (!headRequest && h1.keepAlive && !oracle.keepAlive) return `${at}: h1 keeps the connection, llhttp would not`;
  return undefined;
}

function checkAll(wires: Iterable<readonly [string, boolean]>): { checked: number; accepted: number } {
  const problems: string[] = [];
  let checked = 0;
  let accepted = 0;
  for (const [wire, head] of wires) {
    checked++;
    const problem = disagreement(wire, head);
    if (problem !== undefined) problems.push(problem);
    else if (!("error" in h1Framing(Buffer.from(wire, "latin1"), head, Infinity))) accepted++;
  }
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} disagreements of ${checked}`);
  return { checked, accepted };
}

function* framingHeaders(): Generator<readonly [string, boolean]> {
  const response = (headers: string, status = "200 OK", version = "1.1") => `HTTP/${version} ${status}\r\n${headers}\r\n${BODY}`;
  for (const pre of WS) {
    for (const post of WS) {
      for (const v of TE_VALUES) yield [response(`Transfer-Encoding:${pre}${v}${post}\r\n`), false];
      for (const v of CL_VALUES) yield [response(`Content-Length:${pre}${v}${post}\r\n`), false];
      for (const v of CONNECTION_VALUES) {
        for (const version of ["1.0", "1.1"]) {
          yield [response(`Connection:${pre}${v}${post}\r\nContent-Length: 13\r\n`, "200 OK", version), false];
          yield [response(`Proxy-Connection:${pre}${v}${post}\r\nContent-Length: 13\r\n`, "200 OK", version), false];
        }
      }
    }
  }
  for (const a of TE_VALUES) for (const b of TE_VALUES) yield [response(`Transfer-Encoding: ${a}\r\nTransfer-Encoding: ${b}\r\n`), false];
  for (const a of CL_VALUES) for (const b of CL_VALUES) yield [response(`Content-Length: ${a}\r\nContent-Length: ${b}\r\n`), false];
  for (const a of TE_VALUES) for (const b of ["13", "3", "13\t"]) {
    yield [response(`Transfer-Encoding: ${a}\r\nContent-Length: ${b}\r\n`), false];
    yield [response(`Content-Length: ${b}\r\nTransfer-Encoding: ${a}\r\n`), false];
  }
  for (const v of CONNECTION_VALUES) {
    for (const version of ["1.0", "1.1"]) {
      yield [response(`Content-Length: 3\r\n`, `100 Continue\r\nConnection: ${v}\r\n\r\nHTTP/1.1 200 OK`, version), false];
      yield [response(`Content-Length: 3\r\n`, `103 Early Hints\r\nProxy-Connection: ${v}\r\n\r\nHTTP/1.1 200 OK`, version), false];
    }
  }
  for (const name of ["transfer-encoding", "TRANSFER-ENCODING", "Transfer-encoding", "Transfer-Encoding ", "Transfer_Encoding", " Transfer-Encoding"]) {
    yield [response(`${name}: chunked\r\n`), false];
    yield [response(`${name}: chunked\t\r\n`), false];
  }
  for (const name of ["content-length", "CONTENT-LENGTH", "Content-Length ", "Content_Length"]) yield [response(`${name}: 3\r\n`), false];
  for (const version of ["1.0", "1.1"]) {
    for (const status of ["200 OK", "204 No Content", "304 Not Modified", "201", "201 ", "999 X", "100 Continue\r\n\r\nHTTP/1.1 200 OK", "103 Early\r\nLink: <a>\r\n\r\nHTTP/1.1 200 OK"]) {
      for (const framing of ["Transfer-Encoding: chunked\r\n", "Transfer-Encoding: chunked\t\r\n", "Content-Length: 13\r\n", "Content-Length: 3\t\r\n", "Content-Length: 0\r\n", ""]) {
        for (const head of [false, true]) yield [response(framing, status, version), head];
      }
    }
  }
}

const CHUNKED = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
const CHUNK_LINES = [
  "3", "03", "0003", "3 ", "3\t", " 3", "+3", "0x3", "3a", "3;a", "3 ;a", "3; a", "3;a=b", "3;a=\"b c\"", "3;a b", "3;a=b c", "3;",
  "3;a=", "3;=b", "3;a;b", "3;a=b;c=d", "3;a=b;", "3;a=\"\\\"\"", "3;a=\"\\\"", "3;a=\"b\"c", "3;a=\"b\";c", "3;a=\"\"", "3;\x80",
  "3;a=\x80", "3;a=\"\x80\"", "3;a=\"\\\x80\"", "3;a=\"\x7f\"", "3;a=\"\t\"", "3;a=\"\\\t\"", "3;A=B", "3;a\t", "3;a ", "3;a/b", "3;a=b/c",
  "3;a=\"b/c\"", "3;!#$%&'*+-.^_`|~=x", "3;a=\"\x01\"", "3\x00", "3;a=b\x00",
];
const TRAILERS = [
  "", "X: y\r\n", "X : y\r\n", "X:y\r\n", "X: \x80\r\n", " X: y\r\n", "X\r\n", ": y\r\n", "X: y\r\n z\r\n", "X: a\tb\r\n", "X: a\x7fb\r\n",
  "Content-Length: 5\r\n", "content-length: 0\r\n", "Transfer-Encoding: chunked\r\n", "Connection: close\r\n", "Trailer-Content-Length: 3\r\n",
];

function* chunkedBodies(): Generator<readonly [string, boolean]> {
  for (const line of CHUNK_LINES) yield [`${CHUNKED}${line}\r\nabc\r\n0\r\n\r\n`, false];
  for (const zero of ["0", "00", "0;a=b", "000000", "0 ", "0;"]) yield [`${CHUNKED}3\r\nabc\r\n${zero}\r\n\r\n`, false];
  for (const trailer of TRAILERS) yield [`${CHUNKED}3\r\nabc\r\n0\r\n${trailer}\r\n`, false];
  for (const end of ["\r\n", "\n", "\r", "x\r\n", "\r\r\n"]) yield [`${CHUNKED}3\r\nabc${end}0\r\n\r\n`, false];
}

const SEEDS = [
  `HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc`,
  `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
  `HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n`,
  `${CHUNKED}3;a="b\\"c"\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n`,
  `HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\n\r\nuntil close`,
  `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc`,
  `${CHUNKED}3;a=b\r\nabc\r\n0\r\nX: y\r\n\r\n`,
  `HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: keep-alive\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
  `HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n`,
];
const ALPHABET = [" ", "\t", "\r", "\n", "\r\n", ",", ";", "=", ":", "0", "3", "a", "\"", "\\", "\x00", "\x0b", "\x7f", "\x80", "\xa0", "chunked", "Content-Length: ", "Transfer-Encoding: "];

function* mutations(count: number, seed: number): Generator<readonly [string, boolean]> {
  const random = seeded(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  for (let n = 0; n < count; n++) {
    let wire = pick(SEEDS);
    const edits = 1 + Math.floor(random() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(random() * (wire.length + 1));
      const what = random();
      if (what < 0.45) wire = wire.slice(0, at) + pick(ALPHABET) + wire.slice(at);
      else if (what < 0.75) wire = wire.slice(0, at) + pick(ALPHABET) + wire.slice(at + 1);
      else wire = wire.slice(0, at) + wire.slice(at + 1);
    }
    yield [wire, random() < 0.1];
  }
}

describe("h1 response parser against llhttp", () => {
  test("frames every generated framing-header variant as llhttp does, or refuses it", () => {
    const { checked, accepted } = checkAll(framingHeaders());
    assert.ok(checked > 2000 && accepted > 300, `checked ${checked}, accepted ${accepted}`);
  });

  test("frames every generated chunk-size line, chunk ending and trailer section as llhttp does, or refuses it", () => {
    const { accepted } = checkAll(chunkedBodies());
    assert.ok(accepted >= 15, `accepted ${accepted}`);
  });

  test("frames 20,000 seeded random mutations of valid responses as llhttp does, or refuses them", () => {
    const { accepted } = checkAll(mutations(20_000, 0x5eed));
    assert.ok(accepted > 2000, `accepted ${accepted}`);
  });

  test("the named F1 cases are refused rather than read as chunked or as a length", () => {
    for (const framing of ["Transfer-Encoding: chunked\t", "Transfer-Encoding: chunked \t", "Transfer-Encoding: gzip, chunked\t", "Content-Length: 3\t"]) {
      const f = h1Framing(Buffer.from(`HTTP/1.1 200 OK\r\n${framing}\r\n\r\n${BODY}`, "latin1"), false, Infinity);
      assert.ok("error" in f, `${JSON.stringify(framing)} was read as ${pretty(f)}`);
    }
  });
});
