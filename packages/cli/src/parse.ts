import { InvalidArgumentError } from "commander";
import type { Upstream } from "./types.js";

// Mirrors the controller's pool-name rule so a typo in a split fails before any request is sent.
const POOL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * `blue`, `10.0.0.1:8080`, `unix:/run/app.sock` pass through as strings (the controller validates
 * addresses); `blue=90,green=10` becomes `{ split: { blue: 90, green: 10 } }`.
 */
export function parseUpstream(raw: string): Upstream {
  const s = raw.trim();
  if (s === "") throw new InvalidArgumentError("an upstream is a pool name, an address or a split such as blue=90,green=10");
  if (/\s/.test(s)) throw new InvalidArgumentError("an upstream has no spaces");
  if (!s.includes("=")) return s;
  const split: Record<string, number> = Object.create(null);
  for (const part of s.split(",")) {
    const m = /^([^=]+)=(\d{1,3})$/.exec(part);
    if (!m) throw new InvalidArgumentError(`'${part}' is not pool=weight (write a split as blue=90,green=10)`);
    const [, name, weight] = m as unknown as [string, string, string];
    if (!POOL_NAME.test(name)) throw new InvalidArgumentError(`'${name}' is not a pool name`);
    if (name in split) throw new InvalidArgumentError(`pool '${name}' appears twice in the split`);
    const w = Number(weight);
    if (w > 100) throw new InvalidArgumentError(`weight ${w} for '${name}' is over 100`);
    split[name] = w;
  }
  const sum = Object.values(split).reduce((a, b) => a + b, 0);
  if (sum !== 100) throw new InvalidArgumentError(`split weights must sum to 100, not ${sum}`);
  return { split: { ...split } };
}

/** Kept as the string the API expects ("500ms", "30s", "2m", "1h"); only the shape is checked here. */
export function parseDuration(raw: string): string {
  const s = raw.trim();
  if (!/^\d{1,7}(ms|s|m|h)$/.test(s)) throw new InvalidArgumentError("a duration is a number with a unit, such as 500ms, 30s, 2m or 1h");
  return s;
}

/** `5,25,50,100`: increasing integer percentages ending at 100, as the controller requires. */
export function parseSteps(raw: string): number[] {
  const parts = raw.split(",").map((p) => p.trim());
  const steps = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (steps.some((w) => !(w >= 1 && w <= 100))) throw new InvalidArgumentError("canary steps are percentages from 1 to 100, such as 5,25,50,100");
  if (steps.length > 20) throw new InvalidArgumentError("at most 20 canary steps");
  if (steps.some((w, i) => i > 0 && w <= (steps[i - 1] as number))) throw new InvalidArgumentError("canary steps must increase");
  if (steps.at(-1) !== 100) throw new InvalidArgumentError("the last canary step must be 100");
  return steps;
}

/** `0.05` or `5%`. */
export function parseRate(raw: string): number {
  const s = raw.trim();
  const pct = s.endsWith("%");
  const n = Number(pct ? s.slice(0, -1) : s);
  const rate = pct ? n / 100 : n;
  if (s === "" || s === "%" || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new InvalidArgumentError("an error rate is from 0 to 1 (or 0% to 100%), such as 0.05");
  return rate;
}

export function parseCount(raw: string): number {
  const s = raw.trim();
  const n = /^\d{1,7}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1)) throw new InvalidArgumentError("must be a whole number of at least 1");
  return n;
}

/** The write API's `?timeout=MS` bounds. */
export function parseWaitTimeout(raw: string): number {
  const s = raw.trim();
  const n = /^\d{1,6}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= 120_000)) throw new InvalidArgumentError("a timeout is whole milliseconds from 1 to 120000");
  return n;
}

/** The controller needs an explicit zone, else "18:00" would mean whatever the server's clock zone is. */
export function parseAt(raw: string): string {
  const s = raw.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(s) || Number.isNaN(Date.parse(s))) {
    throw new InvalidArgumentError("a time is ISO 8601 with a zone, such as 2026-11-24T18:00:00Z");
  }
  return s;
}

export function parsePath(raw: string): string {
  if (!raw.startsWith("/") || /\s/.test(raw)) throw new InvalidArgumentError("a probe path starts with / and has no spaces");
  return raw;
}
