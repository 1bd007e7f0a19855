import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { proveRevisions, type AckedSwitch, type RouteWrite, type StampedResponse } from "../src/revision-proof.js";

// Revision 5 routes to blue, 6 to green, 7 to blue again: colours alone cannot tell 7 from 5.
const writes: RouteWrite[] = [
  { revision: 5, color: "blue" },
  { revision: 6, color: "green" },
  { revision: 7, color: "blue" },
];
// Answers arrive at t=100 (rev 6, both agents) and t=200 (rev 7, agent 0 only: agent 1 missed it).
const switches: AckedSwitch[] = [
  { revision: 5, color: "blue", answeredAt: 10, applied: new Set([0, 1]) },
  { revision: 6, color: "green", answeredAt: 100, applied: new Set([0, 1]) },
  { revision: 7, color: "blue", answeredAt: 200, applied: new Set([0]) },
];
const r = (agent: number, sent: number, revision: string | undefined, color: string, done = sent + 1): StampedResponse => ({ agent, sent, done, status: 200, color, revision });

describe("cutover revision proof", () => {
  test("a clean history passes: later revisions are always allowed, colours follow the revisions", () => {
    const p = proveRevisions(writes, switches, [
      r(0, 50, "5", "blue"),
      // Sent before the answer for 6 arrived: either revision is fine.
      r(0, 99, "6", "green"),
      r(1, 99, "5", "blue"),
      // Queued in the client and served by the next flip: what the clock-based check counted as stale.
      r(0, 150, "7", "blue"),
      r(0, 250, "7", "blue"),
      // Agent 1 was not listed for 7, so 6 is still acceptable for it.
      r(1, 260, "6", "green", 270),
    ]);
    assert.deepEqual({ ...p, examples: [] }, { checked: 6, afterAck: 6, stale: 0, mismatched: 0, unstamped: 0, regressed: 0, examples: [] });
  });

  test("a response routed by a revision older than one its agent had acked is stale", () => {
    const p = proveRevisions(writes, switches, [r(0, 210, "6", "green")]);
    assert.equal(p.stale, 1);
    assert.match(p.examples[0] ?? "", /older than 7/);
  });

  test("a colour its revision does not route to is caught even when the colour matches a neighbouring flip", () => {
    // Blue is both revision 5's and 7's colour, but this response says it was routed by 6.
    const p = proveRevisions(writes, switches, [r(0, 150, "6", "blue")]);
    assert.equal(p.mismatched, 1);
  });

  test("a response without a decimal revision is counted as unstamped", () => {
    const p = proveRevisions(writes, switches, [r(0, 150, undefined, "green"), r(0, 160, "6x", "green")]);
    assert.equal(p.unstamped, 2);
  });

  test("an agent serving an older revision than one it already served has gone back", () => {
    const p = proveRevisions(writes, [], [r(1, 10, "7", "blue", 20), r(1, 30, "6", "green")]);
    assert.equal(p.regressed, 1);
    // Overlapping requests may complete in any order: only a request sent after the other completed counts.
    const q = proveRevisions(writes, [], [r(1, 10, "7", "blue", 40), r(1, 30, "6", "green")]);
    assert.equal(q.regressed, 0);
  });

  test("non-200 responses are not checked here (the section counts them as failures)", () => {
    const p = proveRevisions(writes, switches, [{ ...r(0, 250, undefined, ""), status: 502 }]);
    assert.equal(p.checked, 0);
  });
});
