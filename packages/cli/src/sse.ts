/** A Server-Sent Events client small enough to own: fetch's body stream plus the WHATWG line rules. */

export interface SseEvent {
  /** "message" when the server sent no `event:` field. */
  event: string;
  data: string;
  id?: string;
}

/** Incremental parser: feed decoded text in any chunking, get back the events completed so far. */
export class SseParser {
  #buf = "";
  #afterCR = false;
  #first = true;
  #data: string[] = [];
  #type = "";
  #id: string | undefined;
  /** The server's `retry:` hint, kept for a caller that wants to honour it. */
  retryMs: number | undefined;

  push(text: string): SseEvent[] {
    if (this.#first && text.length > 0) {
      this.#first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // A CR ending the previous chunk may be the first half of a CRLF split across chunks.
    if (this.#afterCR && text.startsWith("\n")) text = text.slice(1);
    this.#afterCR = false;
    this.#buf += text;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buf);
      if (!m) break;
      if (m[0] === "\r" && m.index === this.#buf.length - 1) this.#afterCR = true;
      const line = this.#buf.slice(0, m.index);
      this.#buf = this.#buf.slice(m.index + m[0].length);
      const ev = this.#line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined; // comment, e.g. ": keepalive"
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.#data.push(value);
        break;
      case "event":
        this.#type = value;
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
    }
    return undefined;
  }

  #dispatch(): SseEvent | undefined {
    const data = this.#data;
    const type = this.#type;
    this.#data = [];
    this.#type = "";
    if (data.length === 0) return undefined;
    return { event: type || "message", data: data.join("\n"), ...(this.#id === undefined ? {} : { id: this.#id }) };
  }
}

export class StreamIdle extends Error {
  override name = "StreamIdle";
  constructor(readonly ms: number) {
    super(`no data on the event stream for ${ms} ms`);
  }
}

/**
 * Yields events from an SSE body. `idleMs` bounds the silence between chunks (keepalive comments
 * count), so a half-open connection is noticed instead of waited on forever.
 */
export async function* readSse(body: ReadableStream<Uint8Array>, opts: { idleMs?: number } = {}): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, opts.idleMs);
      // Per the spec an event not closed by a blank line before EOF is dropped.
      if (done) return;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    // Also runs when the consumer stops early: closes the connection instead of leaking it.
    await reader.cancel().catch(() => undefined);
  }
}

async function readWithin<T>(reader: ReadableStreamDefaultReader<T>, ms: number | undefined): ReturnType<ReadableStreamDefaultReader<T>["read"]> {
  if (!ms) return reader.read();
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StreamIdle(ms)), ms);
  });
  try {
    return await Promise.race([reader.read(), idle]);
  } finally {
    clearTimeout(timer);
  }
}
