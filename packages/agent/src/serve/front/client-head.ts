import { STATUS_CODES } from "node:http";
import { FINAL_CHUNKED, responseHeaders } from "../headers.js";
import type { ResponseHead } from "../h1/response-parser.js";

/**
 * The response head the fast path writes to its client, from the upstream's parsed head: the
 * same fields and framing Node's path would send (hop-by-hop fields stripped, Date and the
 * keep-alive hint added as Node adds them).
 */

// Date is required on responses (RFC 9110 §6.6.1) and Node adds it; formatted once a second.
let dateSecond = 0;
let dateText = "";
export function utcDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

export interface ClientHead {
  /** The status line and fields, blank line included. */
  text: string;
  /** The body is to be written in chunks (and ended with the last chunk). */
  chunked: boolean;
  /** The connection closes after this response. */
  closeAfter: boolean;
}

/** `wantClose`: the client asked for it, or the server is draining. */
export function clientHead(head: ResponseHead, wantClose: boolean, keepAliveHeader: string): ClientHead {
  const fields = responseHeaders(head.rawHeaders, head.connection);
  let text = `HTTP/1.1 ${head.status} ${head.reason || STATUS_CODES[head.status] || "unknown"}\r\n`;
  let date = false;
  let coding: string | undefined;
  let closes = false;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    text += `${name}: ${value}\r\n`;
    if (name.length === 4) date ||= name.toLowerCase() === "date";
    else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") coding = value;
    else if (name.length === 10) closes ||= name.toLowerCase() === "connection"; // only ever "close" here
  }
  // A body leaves chunked when the client, joining the Transfer-Encoding lines kept, will read
  // chunked as the final coding, or when none is kept and the body was chunked or ran until close
  // (so the client connection survives it). Otherwise a Content-Length body leaves as it came, and
  // any other as bytes until close (responseHeaders has already said Connection: close).
  const chunked = head.body !== "none" && (coding === undefined ? head.body !== "length" : FINAL_CHUNKED.test(coding));
  if (chunked && coding === undefined) text += "Transfer-Encoding: chunked\r\n";
  const closeAfter = closes || wantClose;
  if (!closes) text += closeAfter ? "Connection: close\r\n" : keepAliveHeader;
  if (!date) text += `Date: ${utcDate()}\r\n`;
  return { text: `${text}\r\n`, chunked, closeAfter };
}
