// Server-Sent Events over fetch's body stream. The line rules (CR/LF/CRLF framing, multi-line
// data, comments, BOM) are eventsource-parser's; this file adds only what the CLI needs around
// it: UTF-8 decoding across chunks, an idle bound and a buffer bound. Reconnects live in watch.ts.
import { createParser, type ParseError } from "eventsource-parser";
import { CliError } from "./errors.js";

export interface SseEvent {
  /** "message" when the server sent no `event:` field. */
  event: string;
  data: string;
  id?: string;
}

/** A cutover snapshot is a few KiB; anything near this is not the controller talking. */
const MAX_BUFFER_CHARS = 4 * 1024 * 1024;

export class StreamIdle extends Error {
  override name = "StreamIdle";
  constructor(readonly ms: number) {
    super(`no data on the event stream for ${ms} ms`);
  }
}

/** Not worth a reconnect: the same server would send the same thing again. */
export class StreamTooLarge extends CliError {
  override name = "StreamTooLarge";
  constructor(message: string) {
    super(`the event stream sent an event too large to be a cutover snapshot (${message})`, "bad_stream");
  }
}

/**
 * Yields events from an SSE body. `idleMs` bounds the silence between chunks (keepalive comments
 * count), so a half-open connection is noticed instead of waited on forever.
 */
export async function* readSse(body: ReadableStream<Uint8Array>, opts: { idleMs?: number } = {}): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const ready: SseEvent[] = [];
  let failure: Error | undefined;
  const parser = createParser({
    onEvent: (e) => ready.push({ event: e.event ?? "message", data: e.data, ...(e.id === undefined ? {} : { id: e.id }) }),
    // Unknown fields and bad `retry:` values are ignored, as the spec says; only the bound is fatal.
    onError: (e: ParseError) => {
      if (e.type === "max-buffer-size-exceeded") failure = new StreamTooLarge(e.message);
    },
    maxBufferSize: MAX_BUFFER_CHARS,
  });
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, opts.idleMs);
      // Per the spec an event not closed by a blank line before EOF is dropped.
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      if (failure) throw failure;
      yield* ready.splice(0);
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
