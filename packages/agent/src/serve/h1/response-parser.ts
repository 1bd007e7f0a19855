/**
 * A strict, incremental HTTP/1.1 response parser for the h1 engine's upstream connections.
 *
 * Strict on purpose: whatever it accepts is re-framed by Node for the client, so a response whose
 * framing is ambiguous is refused (502) rather than guessed at; it accepts a subset of what llhttp
 * (Node's own client parser) accepts and frames that subset the same way (h1-response-oracle.test.ts).
 * The head itself is read by response-head.ts. Refused here: bare LF or CR without LF anywhere in a
 * head or line, as soon as it arrives (an upstream speaking bare LF would otherwise leave the exchange
 * waiting for a blank line until the timeout); a first line that cannot become `HTTP/1.x`; heads over
 * 16 KiB (as undici and Node's client); chunk-size and trailer lines over 4 KiB; malformed chunk
 * sizes or chunk terminators; framing fields in trailers; more than 8 informational heads.
 *
 * Limits count a head without its final CRLFCRLF and a line without its CRLF, so an outcome never
 * depends on where reads end: a partial terminator at the end of a read is not counted. A head or
 * line that spans reads is copied into one growing buffer and only the new bytes are scanned, so the
 * cost stays linear even at one byte per read.
 *
 * Bytes after the end of a response mean the connection cannot be trusted for another request
 * (`trailing`); nothing here decides about reuse beyond saying so.
 */

import { fail, readHead, type HeadExtra, type ResponseHead } from "./response-head.js";
import { CRLF, CRLFCRLF, chunkSize, validName, validValue } from "./syntax.js";

export { ResponseParseError, type ResponseHead } from "./response-head.js";

export const MAX_HEAD_BYTES = 16 * 1024;
const MAX_LINE_BYTES = 4 * 1024; // a chunk-size line with its extensions, or one trailer line
const MAX_TRAILER_BYTES = 16 * 1024;
/** Informational heads (100, 103) allowed before the final one: each would otherwise re-arm the timeout. */
const MAX_INFORMATIONAL = 8;
const HEAD_TOO_BIG = "response head exceeds 16 KiB";
const LINE_TOO_LONG = "chunk-size or trailer line too long";
const CR = 13;
const LF = 10;
/** What every status line starts with; a head spanning reads is checked against it byte by byte. */
const STATUS_START = Buffer.from("HTTP/1.", "latin1");

export interface ResponseSink {
  onHead(head: ResponseHead): void;
  /** `last` is true on the chunk that completes a Content-Length body (so it can go out with end). */
  onBody(chunk: Buffer, last: boolean): void;
  onComplete(): void;
}

const enum S { Head, Fixed, ChunkSize, ChunkData, ChunkCr, ChunkLf, Trailers, UntilClose, Done }

export class ResponseParser {
  sink: ResponseSink | undefined;
  /** Bytes followed the end of the response: the connection must not be reused. */
  trailing = false;
  private state = S.Done;
  private headRequest = false;
  private remaining = 0;
  private trailerBytes = 0;
  private informational = 0;
  /** Any byte of the current response (an informational head included) has arrived. */
  private received = false;
  private readonly extra: HeadExtra = { length: -1 };
  // A head or line spanning reads: its bytes so far (a copy), and where the scan of them stands.
  private held: Buffer | undefined;
  private heldLen = 0;
  /** The last byte scanned was a CR. */
  private cr = false;
  /** Bytes of the head's current line so far, its CR excluded. */
  private lineLen = 0;
  /** Lines of the head completed so far. */
  private lines = 0;

  /** Arms the parser for the response to one request. */
  start(sink: ResponseSink, headRequest: boolean): void {
    this.sink = sink;
    this.headRequest = headRequest;
    this.state = S.Head;
    this.trailing = false;
    this.trailerBytes = 0;
    this.informational = 0;
    this.received = false;
    this.release();
  }

  get started(): boolean {
    return this.received;
  }

  /**
   * Feeds bytes from the socket; throws ResponseParseError on anything it refuses. `input` may be
   * reused by the caller once this returns: body chunks and partial lines handed on or kept are copies.
   */
  execute(input: Buffer): void {
    const len = input.length;
    if (len > 0) this.received = true;
    let i = 0;
    while (i < len) {
      if (this.state === S.Done) {
        this.trailing = true;
        return;
      }
      // The exchange let go of the connection from inside a callback.
      if (this.sink === undefined) return;
      switch (this.state) {
        case S.Head:
          i = this.heldLen === 0 ? this.wholeHead(input, i) : this.spanHead(input, i);
          break;
        case S.Fixed:
        case S.ChunkData: {
          const take = Math.min(this.remaining, len - i);
          this.remaining -= take;
          const fixedDone = this.state === S.Fixed && this.remaining === 0;
          if (this.remaining === 0) this.state = fixedDone ? S.Done : S.ChunkCr;
          const chunk = Buffer.from(input.subarray(i, i + take));
          i += take;
          this.sink.onBody(chunk, fixedDone);
          if (fixedDone) this.complete();
          break;
        }
        case S.ChunkCr:
          if (input[i++] !== CR) fail("chunk data not followed by CRLF");
          this.state = S.ChunkLf;
          break;
        case S.ChunkLf:
          if (input[i++] !== LF) fail("chunk data not followed by CRLF");
          this.state = S.ChunkSize;
          break;
        case S.ChunkSize:
        case S.Trailers:
          i = this.heldLen === 0 ? this.wholeLine(input, i) : this.spanLine(input, i);
          break;
        case S.UntilClose: {
          const chunk = Buffer.from(input.subarray(i));
          i = len;
          this.sink.onBody(chunk, false);
          break;
        }
      }
    }
  }

  /** The upstream closed: completes a body that runs until close; anywhere else, throws (a truncation). */
  finish(): void {
    if (this.state === S.UntilClose) {
      this.complete();
      return;
    }
    if (this.state !== S.Done) fail(this.started ? "upstream closed the connection mid-response" : "upstream closed the connection without a response");
  }

  private complete(): void {
    this.state = S.Done;
    const sink = this.sink;
    this.sink = undefined;
    sink?.onComplete();
  }

  /** The usual case, a head whole in one read: one search. Otherwise the bytes are scanned as they come. */
  private wholeHead(buf: Buffer, from: number): number {
    const end = buf.indexOf(CRLFCRLF, from);
    if (end < 0) return this.spanHead(buf, from);
    if (end - from > MAX_HEAD_BYTES) fail(HEAD_TOO_BIG);
    this.head(buf.toString("latin1", from, end));
    return end + 4;
  }

  /** Scans the new bytes of a head that spans reads; returns where the head ended, or holds them all. */
  private spanHead(buf: Buffer, from: number): number {
    const len = buf.length;
    let cr = this.cr;
    let lineLen = this.lineLen;
    let lines = this.lines;
    for (let j = from; j < len; j++) {
      const c = buf[j] as number;
      if (cr) {
        if (c !== LF) fail("CR without LF in the response head");
        cr = false;
        if (lineLen === 0) {
          this.head(this.take(buf, from, j + 1, 4, MAX_HEAD_BYTES, HEAD_TOO_BIG));
          return j + 1;
        }
        lines++;
        lineLen = 0;
      } else if (lines === 0 && lineLen < STATUS_START.length && c !== STATUS_START[lineLen]) {
        fail("malformed status line");
      } else if (c === CR) {
        cr = true;
      } else if (c === LF) {
        fail("bare LF in the response head");
      } else {
        lineLen++;
      }
    }
    // Not counted yet: the CR, CRLF or CRLF CR that may be the start of the blank line.
    const partial = lineLen === 0 && lines > 0 ? (cr ? 3 : 2) : cr ? 1 : 0;
    if (this.heldLen + (len - from) - partial > MAX_HEAD_BYTES) fail(HEAD_TOO_BIG);
    this.hold(buf, from, len);
    this.cr = cr;
    this.lineLen = lineLen;
    this.lines = lines;
    return len;
  }

  private wholeLine(buf: Buffer, from: number): number {
    const eol = buf.indexOf(CRLF, from);
    if (eol < 0) return this.spanLine(buf, from);
    if (eol - from > MAX_LINE_BYTES) fail(LINE_TOO_LONG);
    this.line(buf.toString("latin1", from, eol));
    return eol + 2;
  }

  private spanLine(buf: Buffer, from: number): number {
    const len = buf.length;
    let cr = this.cr;
    for (let j = from; j < len; j++) {
      const c = buf[j] as number;
      if (cr) {
        if (c !== LF) fail("CR without LF in a chunk-size or trailer line");
        this.line(this.take(buf, from, j + 1, 2, MAX_LINE_BYTES, LINE_TOO_LONG));
        return j + 1;
      }
      if (c === CR) cr = true;
      else if (c === LF) fail("bare LF in a chunk-size or trailer line");
    }
    if (this.heldLen + (len - from) - (cr ? 1 : 0) > MAX_LINE_BYTES) fail(LINE_TOO_LONG);
    this.hold(buf, from, len);
    this.cr = cr;
    return len;
  }

  /** The held bytes and buf[from, to) as text, without the `terminator` bytes that end them. */
  private take(buf: Buffer, from: number, to: number, terminator: number, max: number, tooBig: string): string {
    const size = this.heldLen + (to - from) - terminator;
    if (size > max) fail(tooBig);
    this.hold(buf, from, to);
    const text = (this.held as Buffer).toString("latin1", 0, size);
    this.release();
    return text;
  }

  private hold(buf: Buffer, from: number, to: number): void {
    const need = this.heldLen + (to - from);
    let held = this.held;
    if (held === undefined || need > held.length) {
      // Doubling keeps the copying linear; the limits keep it under MAX_HEAD_BYTES plus a terminator.
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(2 * (held?.length ?? 128), MAX_HEAD_BYTES + 4)));
      if (held !== undefined) held.copy(grown, 0, 0, this.heldLen);
      this.held = held = grown;
    }
    buf.copy(held, this.heldLen, from, to);
    this.heldLen = need;
  }

  /** Ends a span: a small buffer is kept for the next one, a large one is not kept per connection. */
  private release(): void {
    if (this.held !== undefined && this.held.length > 1024) this.held = undefined;
    this.heldLen = 0;
    this.cr = false;
    this.lineLen = 0;
    this.lines = 0;
  }

  private head(text: string): void {
    const head = readHead(text, this.headRequest, this.extra);
    // Informational responses (100, 103) are not passed on; the final response follows.
    if (head === undefined) {
      if (++this.informational > MAX_INFORMATIONAL) fail("too many informational responses");
      return;
    }
    const length = this.extra.length;
    this.state = head.body === "none" ? S.Done : head.body === "chunked" ? S.ChunkSize : head.body === "length" ? S.Fixed : S.UntilClose;
    this.remaining = length < 0 ? 0 : length;
    (this.sink as ResponseSink).onHead(head);
    if (this.state === S.Done || (this.state === S.Fixed && this.remaining === 0)) this.complete();
  }

  private line(text: string): void {
    if (this.state === S.ChunkSize) {
      const size = chunkSize(text);
      if (size < 0) fail("malformed chunk size");
      if (size === 0) this.state = S.Trailers;
      else {
        this.remaining = size;
        this.state = S.ChunkData;
      }
      return;
    }
    if (text === "") {
      this.complete();
      return;
    }
    this.trailerBytes += text.length + 2;
    if (this.trailerBytes > MAX_TRAILER_BYTES) fail("trailer section too large");
    const colon = text.indexOf(":");
    if (colon <= 0 || !validName(text, 0, colon) || !validValue(text, colon + 1, text.length)) fail("malformed trailer line");
    // RFC 9110 §6.5.1: framing fields have no place in trailers; llhttp refuses a Content-Length there.
    const name = colon === 14 || colon === 17 ? text.slice(0, colon).toLowerCase() : "";
    if (name === "content-length" || name === "transfer-encoding") fail("framing field in the trailer section");
  }
}
