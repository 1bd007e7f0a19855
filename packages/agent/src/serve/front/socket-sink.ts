import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { ClientSink } from "../h1/exchange.js";
import type { ResponseHead } from "../h1/response-parser.js";
import { FINAL_CHUNKED, responseHeaders } from "../headers.js";
import type { PassRequest, ResultReporter } from "../passes.js";
import { rawErrorResponse, upstreamFailure, type Refusal } from "../replies.js";
import type { ForwardTarget } from "../table.js";

/**
 * The fast path's ClientSink: responses written as raw bytes straight onto the client's socket,
 * with the same fields and framing Node's door would send (hop-by-hop fields stripped, Date and
 * the keep-alive hint added as Node adds them), and each result reported once.
 */

/** The connection a sink writes to (front/fast-conn.ts). */
export interface SocketClient {
  readonly socket: Socket;
  /** The response is out (complete, or the edge's own answer): close the connection, or read the next request. */
  responded(closeAfter: boolean): void;
}

export interface SocketSinkDeps {
  log: Logger | undefined;
  onResult: ResultReporter | undefined;
  /** `Connection: keep-alive` and `Keep-Alive: timeout=N` lines, as Node's server sends them. */
  keepAliveHeader: string;
  /** AGENT_REVISION_HEADER, lowercased, or undefined. */
  revisionHeader: string | undefined;
  /** The server stopped accepting (a drain): every response says Connection: close. */
  draining(): boolean;
}

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

export class SocketSink implements ClientSink {
  private label = "-";
  /** The request under way (the connection's one PassRequest), as reported with its result. */
  private request: PassRequest | undefined;
  private target: ForwardTarget | undefined;
  private headRequest = false;
  private wantsClose = false;
  /** `name: revision\r\n`, or "" without AGENT_REVISION_HEADER. */
  private stampLine = "";
  private status = 0;
  private started = false;
  private chunked = false;
  private closeAfter = false;
  private corked = false;

  constructor(
    private readonly client: SocketClient,
    private readonly deps: SocketSinkDeps,
  ) {}

  /** Set up for one request, as the passes left it: its method, whether the client asked to close, where it goes and the routing revision. */
  prepare(r: PassRequest): void {
    const { target, revision } = r;
    this.request = r;
    this.headRequest = r.method === "HEAD";
    this.wantsClose = r.close;
    this.target = target;
    this.label = target?.upstreamLabel ?? "-";
    this.stampLine = this.deps.revisionHeader !== undefined && revision >= 0 ? `${this.deps.revisionHeader}: ${revision}\r\n` : "";
    this.status = 0;
    this.started = false;
    this.chunked = false;
    this.closeAfter = false;
  }

  head(head: ResponseHead): boolean {
    this.status = head.status;
    const fields = responseHeaders(head.rawHeaders, head.connection);
    const stamp = this.deps.revisionHeader;
    let text = `HTTP/1.1 ${head.status} ${head.reason || STATUS_CODES[head.status] || "unknown"}\r\n`;
    let date = false;
    let coding: string | undefined;
    let closes = false;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i] as string;
      const value = fields[i + 1] as string;
      // The upstream cannot speak for the edge's own revision field.
      if (stamp !== undefined && name.length === stamp.length && name.toLowerCase() === stamp) continue;
      text += `${name}: ${value}\r\n`;
      if (name.length === 4) date ||= name.toLowerCase() === "date";
      else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") coding = value;
      else if (name.length === 10) closes ||= name.toLowerCase() === "connection"; // only ever "close" here
    }
    // A body leaves chunked when the client, joining the Transfer-Encoding lines kept, will read
    // chunked as the final coding, or when none is kept and the body was chunked or ran until close
    // (so the client connection survives it). Otherwise a Content-Length body leaves as it came, and
    // any other as bytes until close (responseHeaders has already said Connection: close).
    this.chunked = head.body !== "none" && (coding === undefined ? head.body !== "length" : FINAL_CHUNKED.test(coding));
    if (this.chunked && coding === undefined) text += "Transfer-Encoding: chunked\r\n";
    this.closeAfter = closes || this.wantsClose || this.deps.draining();
    if (!closes) text += this.closeAfter ? "Connection: close\r\n" : this.deps.keepAliveHeader;
    if (!date) text += `Date: ${utcDate()}\r\n`;
    this.started = true;
    // Held until the end of this upstream read, so a head and the body that came with it go out in one write.
    this.client.socket.cork();
    this.corked = true;
    this.client.socket.write(`${text}${this.stampLine}\r\n`, "latin1");
    return true;
  }

  body(chunk: Buffer, _last: boolean): boolean {
    const s = this.client.socket;
    if (!this.chunked) return s.write(chunk);
    if (chunk.length === 0) return true; // would read as the last chunk
    s.write(`${chunk.length.toString(16)}\r\n`, "latin1");
    s.write(chunk);
    return s.write("\r\n", "latin1");
  }

  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.client.socket.uncork();
  }

  end(): void {
    if (this.chunked) this.client.socket.write("0\r\n\r\n", "latin1");
    this.flush();
    this.report(this.status);
    this.client.responded(this.closeAfter);
  }

  fail(status: 502 | 504): void {
    this.report(status);
    const socket = this.client.socket;
    if (this.started || socket.destroyed) {
      // The status line is out: only cutting the connection can tell the client.
      this.flush();
      socket.destroy();
      return;
    }
    this.answer(upstreamFailure(status, this.target?.pool), this.wantsClose);
  }

  gone(): void {
    this.report(499);
  }

  get closed(): boolean {
    return this.client.socket.destroyed;
  }

  cut(): void {
    this.client.socket.destroy();
  }

  /** The edge's own answer to a request the passes refused (`prepare` first); 400s close the connection. */
  refuse(r: Refusal): void {
    this.report(r.status);
    this.answer(r, this.wantsClose || r.status === 400);
  }

  private answer(r: Refusal, close: boolean): void {
    this.closeAfter = close || this.deps.draining();
    const extra = `date: ${utcDate()}\r\n${this.closeAfter ? "" : this.deps.keepAliveHeader}${this.stampLine}`;
    // utf8, as content-length counts it: a 404 names the host, which may carry obs-text.
    this.client.socket.write(rawErrorResponse(r, { close: this.closeAfter, headOnly: this.headRequest, extra }), "utf8");
    this.client.responded(this.closeAfter);
  }

  private report(status: number): void {
    const onResult = this.deps.onResult;
    if (onResult === undefined || this.request === undefined) return;
    try {
      onResult(this.label, status, this.request);
    } catch (err) {
      this.deps.log?.error({ err }, "onResult threw");
    }
  }
}
