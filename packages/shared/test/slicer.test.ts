import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, test } from "node:test";
import { Slicer } from "../src/slicer.js";

/** Counts event-loop turns (check phases) until stopped: zero means the loop never got a turn. */
function loopTurns() {
  let turns = 0;
  let stopped = false;
  const spin = () => {
    if (stopped) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  return {
    stop: () => {
      stopped = true;
      return turns;
    },
  };
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

describe("Slicer", () => {
  test("a run shorter than the slice never yields, however long the loop was idle before it", async () => {
    const s = new Slicer(100);
    await s.tick();
    await sleep(120);
    const turns = loopTurns();
    for (let i = 0; i < 20; i++) await s.tick();
    assert.equal(turns.stop(), 0, "the loop got a turn in the middle of a short run");
  });

  test("a long run gives the loop a turn every slice", async () => {
    const s = new Slicer(2);
    const turns = loopTurns();
    // Counted in CPU time: a slice is measured in wall time, so being descheduled can only shorten
    // the work done per slice, and 30 ms of work always spans many slices.
    const end = cpuMs() + 30;
    while (cpuMs() < end) await s.tick();
    const n = turns.stop();
    assert.ok(n >= 5, `${n} loop turns in 30 ms of work with 2 ms slices`);
  });

  test("work after the loop has had a full turn starts a fresh slice", async () => {
    const s = new Slicer(20);
    await s.tick();
    const end = performance.now() + 25;
    while (performance.now() < end);
    // A wait that lets the loop run a whole iteration (a Redis reply, say, then the check phase).
    await sleep(1);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const turns = loopTurns();
    await s.tick();
    // The budget was spent before the wait; after the loop's turn, nothing is due.
    assert.equal(turns.stop(), 0);
  });
});
