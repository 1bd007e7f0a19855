import { InvalidArgumentError } from "commander";
import { parseDuration as durationMs } from "@switchyard/shared/duration";
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

const DURATION_HINT = "a duration is a number with a unit, such as 500ms, 30s, 1m30s or 2h";

/**
 * Kept as the string the API expects; the syntax is the controller's own (`shared/duration.ts`),
 * so what passes here is read the same way there. The controller still checks each field's limit.
 */
export function parseDuration(raw: string): string {
  if (durationMs(raw) === undefined) throw new InvalidArgumentError(DURATION_HINT);
  return raw.trim();
}

/** A duration turned into milliseconds, within [min, max]. */
export function parseDurationMs(raw: string, min: number, max: number): number {
  const ms = durationMs(raw);
  if (ms === undefined) throw new InvalidArgumentError(DURATION_HINT);
  if (ms < min || ms > max) throw new InvalidArgumentError(`must be from ${fmt(min)} to ${fmt(max)}`);
  return ms;
}

const fmt = (ms: number) => (ms < 1000 ? `${ms}ms` : `${ms / 1000}s`);

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

/** `--timeout` of `--wait`: the write API's `?timeout=MS` bounds (1 ms to 120 s), given as a duration. */
export function parseWaitTimeout(raw: string): number {
  return parseDurationMs(raw, 1, 120_000);
}

/** How long `abort`/`promote` wait for the outcome: up to 10 minutes. */
export function parseSettleTimeout(raw: string): number {
  return parseDurationMs(raw, 1, 600_000);
}

/** `--if-match`: the revision the write expects to be current. */
export function parseRevision(raw: string): number {
  const s = raw.trim().replace(/^"(.*)"$/, "$1");
  const n = /^\d{1,15}$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("a revision is a whole number, such as 42");
  return n;
}

/** `--limit` of `audit`: the API's 1 to 1000. */
export function parseLimit(raw: string): number {
  const s = raw.trim();
  const n = /^\d{1,4}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= 1000)) throw new InvalidArgumentError("a limit is a whole number from 1 to 1000");
  return n;
}

/**
 * A pool target as the CLI prints it: `ADDRESS` or `ADDRESS=WEIGHT` (weight 1 to 100), the same
 * `name=weight` shape as a split. The controller validates the address itself.
 */
export function parseTarget(raw: string): { address: string; weight?: number } {
  const s = raw.trim();
  const m = /^(.+?)(?:=(\d{1,3}))?$/.exec(s);
  if (!m || s === "" || /\s/.test(s)) throw new InvalidArgumentError(`'${raw}' is not ADDRESS or ADDRESS=WEIGHT`);
  const [, address, weight] = m as unknown as [string, string, string | undefined];
  if (address.includes("=")) throw new InvalidArgumentError(`'${raw}' is not ADDRESS or ADDRESS=WEIGHT`);
  if (weight === undefined) return { address };
  const w = Number(weight);
  if (!(w >= 1 && w <= 100)) throw new InvalidArgumentError(`weight ${weight} of '${address}' is not from 1 to 100`);
  return { address, weight: w };
}

/** `--rule PATH=UPSTREAM` (split at the first `=`): `/api/=green`, `/=blue=90,green=10`. */
export function parseRule(raw: string, previous: { path: string; upstream: Upstream }[] = []): { path: string; upstream: Upstream }[] {
  const eq = raw.indexOf("=");
  const path = eq === -1 ? "" : raw.slice(0, eq).trim();
  if (!path.startsWith("/") || /\s/.test(path)) throw new InvalidArgumentError(`'${raw}' is not PATH=UPSTREAM with PATH starting with /, such as /api/=green`);
  if (previous.some((r) => r.path === path)) throw new InvalidArgumentError(`path ${path} is given twice`);
  return [...previous, { path, upstream: parseUpstream(raw.slice(eq + 1)) }];
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
