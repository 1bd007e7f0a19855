/**
 * The one duration syntax of Switchyard, shared by the controller's API and the CLI:
 * `500ms`, `30s`, `2m`, `1h`, and compounds such as `1m30s` or `1h30m`, units largest first,
 * each at most once (as in Go's time.ParseDuration, without fractions or signs).
 * Kept free of imports so the CLI can load it without the rest of the shared package.
 */

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;

// `m(?!s)` keeps the `m` of `ms` from being read as minutes. Each part is at most 7 digits.
const DURATION = /^(?:(\d{1,7})h)?(?:(\d{1,7})m(?!s))?(?:(\d{1,7})s)?(?:(\d{1,7})ms)?$/;

/** Milliseconds, or `undefined` when `text` is not a duration (surrounding spaces are allowed). */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  const m = DURATION.exec(s);
  if (!m || s === "") return undefined;
  const [, h, min, sec, ms] = m;
  return Number(h ?? 0) * UNIT_MS.h + Number(min ?? 0) * UNIT_MS.m + Number(sec ?? 0) * UNIT_MS.s + Number(ms ?? 0) * UNIT_MS.ms;
}

/** The shortest spelling `parseDuration` reads back as `ms` (`90000` -> `1m30s`, `0` -> `0s`). */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration in ms: ${ms}`);
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) out += `${n}${unit}`;
  }
  return out;
}
