import { setTimeout as delay } from "node:timers/promises";
import type { Client } from "./client.js";
import { networkReason } from "./client.js";
import { ApiError, CliError } from "./errors.js";
import { readSse, StreamTooLarge } from "./sse.js";
import { isTerminal, type Cutover } from "./types.js";

export interface WatchOptions {
  /** Longest silence (keepalives count) before the stream is treated as dead. */
  idleMs?: number;
  /** Reconnects allowed in a row without any new progress. */
  retries?: number;
  retryDelayMs?: number;
}

export const cutoverPath = (id: string) => `/v1/cutovers/${encodeURIComponent(id)}`;

/**
 * Follows a cutover's SSE stream until it reaches a terminal state, calling `onSnapshot` once per
 * distinct snapshot. The cutover runs on the controller whatever happens to this connection, so a
 * dropped or silent stream is re-read and reconnected rather than reported as the cutover failing.
 */
export async function followCutover(client: Client, id: string, onSnapshot: (c: Cutover) => void, opts: WatchOptions = {}): Promise<Cutover> {
  const { idleMs = 60_000, retries = 5, retryDelayMs = 1000 } = opts;
  let last = "";
  let failures = 0;
  let lastError: unknown;
  const seen = (c: Cutover): boolean => {
    const key = JSON.stringify(c);
    if (key === last) return false;
    last = key;
    failures = 0;
    onSnapshot(c);
    return true;
  };

  for (;;) {
    const ac = new AbortController();
    try {
      const body = await client.stream(`${cutoverPath(id)}/events`, ac.signal);
      for await (const ev of readSse(body, { idleMs })) {
        if (ev.event !== "progress" && ev.event !== "message") continue;
        const c = parseSnapshot(ev.data);
        seen(c);
        if (isTerminal(c.state)) return c;
      }
      lastError = new Error("the stream ended before the cutover finished");
    } catch (err) {
      // The controller answered (404, 401, bad data): reconnecting would get the same answer.
      if (err instanceof ApiError || err instanceof BadEvent || err instanceof StreamTooLarge) throw err;
      lastError = err;
    } finally {
      ac.abort();
    }
    try {
      const c = await client.get<Cutover>(cutoverPath(id));
      seen(c);
      if (isTerminal(c.state)) return c;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      lastError = err;
    }
    if (++failures > retries) {
      throw new CliError(`lost the event stream of cutover ${id} (${describe(lastError)}); it keeps running on the controller: switchyard cutover-status ${id}`);
    }
    await delay(retryDelayMs * failures);
  }
}

class BadEvent extends CliError {}

function parseSnapshot(data: string): Cutover {
  let c: unknown;
  try {
    c = JSON.parse(data);
  } catch {
    throw new BadEvent("the controller sent a progress event that is not JSON");
  }
  const o = c as Partial<Cutover> | null;
  if (!o || typeof o.state !== "string" || !Array.isArray(o.steps) || !Array.isArray(o.readings) || !Array.isArray(o.hosts)) {
    throw new BadEvent("the controller sent a progress event that is not a cutover");
  }
  return o as Cutover;
}

function describe(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof Error && err.name === "StreamIdle") return err.message;
  return networkReason(err);
}
