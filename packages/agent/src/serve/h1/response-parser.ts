/**
 * A strict, incremental HTTP/1.1 response parser for the h1 engine's upstream connections.
 *
 * Strict on purpose: whatever it accepts is re-framed by Node for the client, so a response whose
 * framing is ambiguous is refused (502) rather than guessed at. Refused: Content-Length together
 * with Transfer-Encoding, Content-Length values that disagree or are not plain digits, chunked that
 * is not the final coding, obs-folded or malformed header lines, bare LF line endings, control
 * characters in the reason phrase or in values, heads over 16 KiB (as undici and Node's client), an
 * unrequested 101, malformed chunk sizes or chunk terminators.
 *
 * Framing (RFC 9112 §6.3): no body for HEAD, 1xx, 204 and 304; 1xx heads other than 101 are
 * skipped; then chunked, then Content-Length, else the body runs until the upstream closes.
 * Trailers are read and discarded. Bytes after the end of a response mean the connection cannot be
 * trusted for another request (`trailing`); nothing here decides about reuse beyond saying so.
 */

import { CHUNK_SIZE, CRLF, CRLFCRLF, DIGITS, KEEP_ALIVE_TIMEOUT, digitAt, isOws, validName, validValue } from "./syntax.js";

export const MAX_HEAD_BYTES = 16 * 1024;
const MAX_LINE_BYTES = 4 * 1024; // a chunk-size line with its extensions, or one trailer line
const MAX_TRAILER_BYTES = 16 * 1024;
/** Informational heads (100, 103) allowed before the final one: each would otherwise re-arm the timeout. */
const MAX_INFORMATIONAL = 8;

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  /** [name, value, name, value, ...] in the upstream's spelling and order. */
  readonly rawHeaders: string[];
  /** The Connection field's value(s), for hop-by-hop stripping. */
  readonly connection: string | undefined;
  /** The upstream lets the connection be reused after this response (version and Connection). */
  readonly keepAlive: boolean;
  /** `Keep-Alive: timeout=N` in ms, when the upstream sent one. */
  readonly idleHintMs: number | undefined;
  /** How the body is delimited: not at all, by Content-Length, by chunks, or by the upstream closing. */
  readonly body: "none" | "length" | "chunked" | "close";
}

export interface ResponseSink {
  onHead(head: ResponseHead): void;
  /** `last` is true on the chunk that completes a Content-Length body (so it can go out with end). */
  onBody(chunk: Buffer, last: boolean): void;
  onComplete(): void;
}

export class ResponseParseError extends Error {}

const enum S { Head, Fixed, ChunkSize, ChunkData, ChunkCr, ChunkLf, Trailers, UntilClose, Done }

function fail(message: string): never {
  throw new ResponseParseError(message);
}

function digit(s: string, at: number): number {
  const c = digitAt(s, at);
  if (c < 0) fail("malformed status line");
  return c;
}

export class ResponseParser {
  sink: ResponseSink | undefined;
  /** Bytes followed the end of the response: the connection must not be reused. */
  trailing = false;
  private state = S.Done;
  private headRequest = false;
  private pending: Buffer | undefined;
  private remaining = 0;
  private trailerBytes = 0;
  private informational = 0;
  /** Any byte of the current response (an informational head included) has arrived. */
  private received = false;

  /** Arms the parser for the response to one request. */
  start(sink: ResponseSink, headRequest: boolean): void {
    this.sink = sink;
    this.headRequest = headRequest;
    this.state = S.Head;
    this.pending = undefined;
    this.trailing = false;
    this.trailerBytes = 0;
    this.informational = 0;
    this.received = false;
  }

  get started(): boolean {
    return this.received;
  }

  /**
   * Feeds bytes from the socket; throws ResponseParseError on anything it refuses. `input` may be
   * reused by the caller once this returns: body chunks and partial lines handed on or kept are copies.
   */
  execute(input: Buffer): void {
    let buf = input;
    if (input.length > 0) this.received = true;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, input]);
      this.pending = undefined;
    }
    let i = 0;
    while (i < buf.length) {
      if (this.state === S.Done) {
        this.trailing = true;
        return;
      }
      // The exchange let go of the connection from inside a callback.
      if (this.sink === undefined) return;
      switch (this.state) {
        case S.Head: {
          const end = buf.indexOf(CRLFCRLF, i);
          if (end < 0) {
            if (buf.length - i > MAX_HEAD_BYTES) fail("response head exceeds 16 KiB");
            this.pending = Buffer.from(buf.subarray(i));
            return;
          }
          if (end - i > MAX_HEAD_BYTES) fail("response head exceeds 16 KiB");
          const from = i;
          i = end + 4;
          this.head(buf.toString("latin1", from, end));
          break;
        }
        case S.Fixed:
        case S.ChunkData: {
          const take = Math.min(this.remaining, buf.length - i);
          this.remaining -= take;
          const fixedDone = this.state === S.Fixed && this.remaining === 0;
          if (this.remaining === 0) this.state = fixedDone ? S.Done : S.ChunkCr;
          const chunk = Buffer.from(buf.subarray(i, i + take));
          i += take;
          this.sink.onBody(chunk, fixedDone);
          if (fixedDone) this.complete();
          break;
        }
        case S.ChunkCr:
          if (buf[i++] !== 13) fail("chunk data not followed by CRLF");
          this.state = S.ChunkLf;
          break;
        case S.ChunkLf:
          if (buf[i++] !== 10) fail("chunk data not followed by CRLF");
          this.state = S.ChunkSize;
          break;
        case S.ChunkSize:
        case S.Trailers: {
          const eol = buf.indexOf(CRLF, i);
          if (eol < 0) {
            if (buf.length - i > MAX_LINE_BYTES) fail("chunk-size or trailer line too long");
            this.pending = Buffer.from(buf.subarray(i));
            return;
          }
          if (eol - i > MAX_LINE_BYTES) fail("chunk-size or trailer line too long");
          const line = buf.toString("latin1", i, eol);
          i = eol + 2;
          if (this.state === S.ChunkSize) this.chunkSize(line);
          else this.trailer(line);
          break;
        }
        case S.UntilClose: {
          const chunk = Buffer.from(buf.subarray(i));
          i = buf.length;
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

  private head(text: string): void {
    const len = text.length;
    let eol = text.indexOf("\r\n");
    if (eol < 0) eol = len;
    // "HTTP/1.x NNN" then optionally " reason": checked by position rather than with a regex, since
    // this runs once per proxied request.
    if (eol < 12 || !text.startsWith("HTTP/1.") || text.charCodeAt(8) !== 32 || (eol > 12 && text.charCodeAt(12) !== 32)) fail("malformed status line");
    const minor = text.charCodeAt(7);
    if (minor !== 48 && minor !== 49) fail("malformed status line");
    const status = digit(text, 9) * 100 + digit(text, 10) * 10 + digit(text, 11);
    if (status < 100) fail("malformed status line");
    if (status === 101) fail("unrequested protocol switch (101)");
    const reason = eol > 13 ? text.slice(13, eol) : "";
    if (!validValue(text, 13, eol)) fail("control character in the reason phrase");
    const http10 = minor === 48;

    const rawHeaders: string[] = [];
    let connection: string | undefined;
    let te: string | undefined;
    let length: number | undefined;
    let hint: number | undefined;
    let pos = eol + 2;
    while (pos < len) {
      let next = text.indexOf("\r\n", pos);
      if (next < 0) next = len;
      const colon = text.indexOf(":", pos);
      if (colon <= pos || colon >= next || !validName(text, pos, colon)) fail("malformed header line");
      let vs = colon + 1;
      let ve = next;
      while (vs < ve && isOws(text.charCodeAt(vs))) vs++;
      while (ve > vs && isOws(text.charCodeAt(ve - 1))) ve--;
      if (!validValue(text, vs, ve)) fail("malformed header value");
      const name = text.slice(pos, colon);
      const value = text.slice(vs, ve);
      pos = next + 2;
      rawHeaders.push(name, value);
      switch (name.length === 10 || name.length === 14 || name.length === 17 ? name.toLowerCase() : "") {
        case "connection":
          connection = connection === undefined ? value : `${connection}, ${value}`;
          break;
        case "keep-alive": {
          const t = KEEP_ALIVE_TIMEOUT.exec(value);
          if (t) hint = Number(t[1]) * 1000;
          break;
        }
        case "transfer-encoding":
          te = te === undefined ? value : `${te}, ${value}`;
          break;
        case "content-length": {
          const first = length === undefined;
          for (const part of value.split(",")) {
            const v = part.trim();
            if (!DIGITS.test(v)) fail("invalid Content-Length");
            const n = Number(v);
            if (length !== undefined && length !== n) fail("conflicting Content-Length values");
            length = n;
          }
          // Agreeing repeats ("2, 2", or two lines) are passed on as one plain value: clients such as
          // Node's and undici's refuse the repeated forms outright.
          if (first) rawHeaders[rawHeaders.length - 1] = String(length);
          else rawHeaders.length -= 2;
          break;
        }
      }
    }
    // Informational responses (100, 103) are not passed on; the final response follows.
    if (status < 200) {
      if (++this.informational > MAX_INFORMATIONAL) fail("too many informational responses");
      return;
    }

    let chunked = false;
    if (te !== undefined) {
      if (length !== undefined) fail("both Content-Length and Transfer-Encoding");
      const codings = te.toLowerCase().split(",").map((c) => c.trim());
      const at = codings.indexOf("chunked");
      if (at >= 0 && at !== codings.length - 1) fail("chunked is not the final transfer coding");
      chunked = at >= 0;
    }
    const tokens = connection === undefined ? [] : connection.toLowerCase().split(",").map((t) => t.trim());
    const noBody = this.headRequest || status === 204 || status === 304;
    const untilClose = !noBody && !chunked && length === undefined;
    const keepAlive = !untilClose && (http10 ? tokens.includes("keep-alive") : !tokens.includes("close"));
    this.state = noBody ? S.Done : chunked ? S.ChunkSize : length !== undefined ? S.Fixed : S.UntilClose;
    this.remaining = length ?? 0;
    const body = noBody ? "none" : chunked ? "chunked" : untilClose ? "close" : "length";
    (this.sink as ResponseSink).onHead({ status, reason, rawHeaders, connection, keepAlive, idleHintMs: hint, body });
    if (this.state === S.Done) this.complete();
    else if (this.state === S.Fixed && this.remaining === 0) {
      this.state = S.Done;
      this.complete();
    }
  }

  private chunkSize(line: string): void {
    const m = CHUNK_SIZE.exec(line);
    if (m === null) fail("malformed chunk size");
    const size = parseInt(m[1] as string, 16);
    if (size === 0) {
      this.state = S.Trailers;
      return;
    }
    this.remaining = size;
    this.state = S.ChunkData;
  }

  private trailer(line: string): void {
    if (line === "") {
      this.complete();
      return;
    }
    this.trailerBytes += line.length + 2;
    if (this.trailerBytes > MAX_TRAILER_BYTES) fail("trailer section too large");
    const colon = line.indexOf(":");
    if (colon <= 0 || !validName(line, 0, colon) || !validValue(line, colon + 1, line.length)) fail("malformed trailer line");
  }
}
