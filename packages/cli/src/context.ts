import type { Command } from "commander";
import type { Client } from "./client.js";
import type { WatchOptions } from "./watch.js";

/** What every command receives: the API client, the output mode and the two output streams. */
export interface Ctx {
  client: Client;
  json: boolean;
  out(text: string): void;
  err(text: string): void;
  watch?: WatchOptions;
  /** Poll interval while `abort`/`promote` wait for the outcome; tests shorten it. */
  pollMs?: number;
}

/** Wraps a command function as a commander action; the number it returns is the exit code. */
export type Act = <A extends unknown[]>(fn: (c: Ctx, ...args: A) => Promise<number>) => (this: Command, ...args: A) => Promise<void>;

export const printJson = (ctx: Ctx, value: unknown) => ctx.out(JSON.stringify(value, null, 2) + "\n");
