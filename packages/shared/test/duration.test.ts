import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDuration, parseDuration } from "../src/duration.js";

test("durations read single units and compounds, largest unit first", () => {
  const cases: [string, number][] = [
    ["500ms", 500], ["30s", 30_000], ["2m", 120_000], ["2h", 7_200_000], ["1m30s", 90_000], ["1h30m", 5_400_000],
    ["1h2m3s4ms", 3_723_004], ["0s", 0], [" 30s ", 30_000], ["90s", 90_000], ["1m500ms", 60_500],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test("anything else is not a duration: bare numbers, fractions, signs, other units, wrong order, repeats", () => {
  for (const bad of ["", "30", "1.5s", "-1s", "+1s", "1d", "30S", "s", "ms", "30s1m", "1m1m", "1s1s", "1 m", "30sec", "10000000s", "1h 30m"]) {
    assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
  }
});

test("formatDuration writes the shortest spelling that parses back to the same value", () => {
  for (const ms of [0, 1, 999, 1000, 60_000, 90_000, 3_723_004, 86_400_000]) assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(250), "250ms");
  assert.throws(() => formatDuration(-1), RangeError);
});
