import { createRequire } from "node:module";
import { ResponseParseError, ResponseParser } from "../src/serve/h1/response-parser.js";

/**
 * Two readers of one upstream response, for differential tests: h1's parser and llhttp, the parser
 * in Node's own HTTP client (`_http_common`'s HTTPParser in response mode, strict flags, as
 * `http.request` runs it). Both report how they frame the response: its status, its body bytes, and
 * the offset just after the byte that completed it ("close" when only the upstream closing did).
 */

export type Framing =
  | { readonly error: string }
  | { readonly status: number; readonly body: string; readonly end: number | "close"; readonly keepAlive: boolean };

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  [callback: number]: unknown;
}
interface LlhttpStatics {
  new (): LlhttpParser;
  RESPONSE: number;
  kLenientNone: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

const { HTTPParser } = createRequire(import.meta.url)("_http_common") as { HTTPParser: LlhttpStatics };

const code = (e: Error) => (e as Error & { code?: string }).code ?? e.message;

/** llhttp's framing, fed one byte per execute so the completing byte is known exactly. */
export function llhttpFraming(wire: Buffer, headRequest: boolean): Framing {
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 0, HTTPParser.kLenientNone);
  let status = 0;
  let body = "";
  let keepAlive = false;
  let end: number | "close" | undefined;
  let offset = 0;
  p[HTTPParser.kOnHeadersComplete] = (...args: unknown[]) => {
    const st = args[5] as number;
    if (st < 200) return 0; // informational: another head follows
    status = st;
    keepAlive = args[8] as boolean;
    return headRequest ? 1 : 0; // 1: no body, as Node's client says for HEAD
  };
  p[HTTPParser.kOnBody] = (chunk: Buffer) => {
    if (end === undefined) body += chunk.toString("latin1");
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (end === undefined && status !== 0) end = offset;
  };
  for (offset = 1; offset <= wire.length && end === undefined; offset++) {
    const r = p.execute(wire.subarray(offset - 1, offset));
    if (r instanceof Error) return { error: code(r) };
  }
  if (end === undefined) {
    offset = -1;
    const r = p.finish();
    if (r instanceof Error) return { error: code(r) };
    if (end === -1) end = "close";
  }
  if (end === undefined) return { error: "incomplete" };
  return { status, body, end, keepAlive };
}

/**
 * h1's framing, fed in reads of `step` bytes (Infinity: all at once). `end` is exact only byte by
 * byte; otherwise it is the end of the read that completed the response.
 */
export function h1Framing(wire: Buffer, headRequest: boolean, step = 1): Framing {
  const p = new ResponseParser();
  let status = 0;
  let body = "";
  let keepAlive = false;
  let end: number | "close" | undefined;
  let offset = 0;
  p.start(
    {
      onHead: (h) => {
        status = h.status;
        keepAlive = h.keepAlive;
      },
      onBody: (chunk) => {
        body += chunk.toString("latin1");
      },
      onComplete: () => {
        end = offset;
      },
    },
    headRequest,
  );
  try {
    for (let i = 0; i < wire.length && end === undefined; i += step) {
      offset = Math.min(i + step, wire.length);
      p.execute(wire.subarray(i, offset));
    }
    if (end === undefined) {
      offset = -1;
      p.finish();
      if (end === -1) end = "close";
    }
  } catch (e) {
    if (e instanceof ResponseParseError) return { error: e.message };
    throw e;
  }
  if (end === undefined) return { error: "incomplete" };
  return { status, body, end, keepAlive };
}
