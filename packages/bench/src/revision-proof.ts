/**
 * The cutover section's proof, from what the system itself reports rather than from clocks. With
 * AGENT_REVISION_HEADER set, every response names the revision of the table that routed it. The
 * bench only relies on causality within its own process: a `?wait=applied` answer listing agent i
 * arrived before a request to agent i was sent, so that agent had applied the revision before the
 * request reached it.
 *
 * Checked for every 200 response:
 * - stale: stamped with a revision older than the newest one its agent was known (by an answer
 *   received before the request was sent) to have applied;
 * - mismatched: its colour is not what its stamped revision routes the host to;
 * - unstamped: no decimal revision in the header;
 * - regressed: older than a response the same agent had already completed before this request was
 *   sent (an agent never goes back to an older table).
 */

export interface RouteWrite {
  revision: number;
  /** What the host routes to from this revision on. */
  color: string;
}

export interface AckedSwitch extends RouteWrite {
  /** performance.now() when the `?wait=applied` answer arrived. */
  answeredAt: number;
  /** Agents (by index) the answer lists as having applied the revision. */
  applied: ReadonlySet<number>;
}

export interface StampedResponse {
  agent: number;
  /** performance.now() when sent, and when complete. */
  sent: number;
  done: number;
  status: number;
  color: string;
  /** The header's raw value. */
  revision: string | undefined;
}

export interface RevisionProof {
  /** 200 responses examined. */
  checked: number;
  /** Of those, sent after an answer that listed their agent (so a floor applied). */
  afterAck: number;
  stale: number;
  mismatched: number;
  unstamped: number;
  regressed: number;
  /** Up to 5 violations, described. */
  examples: string[];
}

/** The last index in ascending `xs` whose key is < `x` (strictly before), or -1. */
function lastBefore<T>(xs: readonly T[], key: (t: T) => number, x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(xs[mid] as T) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export function proveRevisions(writes: readonly RouteWrite[], switches: readonly AckedSwitch[], responses: readonly StampedResponse[]): RevisionProof {
  const byRevision = [...writes].sort((a, b) => a.revision - b.revision);
  const colorAt = (r: number) => byRevision[lastBefore(byRevision, (w) => w.revision, r + 1)]?.color;
  const agents = new Set(responses.map((s) => s.agent));
  // Per agent: the answers that listed it, by arrival, with the highest revision known so far.
  const floors = new Map<number, { at: number; revision: number }[]>();
  for (const agent of agents) {
    let max = -Infinity;
    const list: { at: number; revision: number }[] = [];
    for (const s of [...switches].sort((a, b) => a.answeredAt - b.answeredAt)) {
      if (!s.applied.has(agent)) continue;
      max = Math.max(max, s.revision);
      list.push({ at: s.answeredAt, revision: max });
    }
    floors.set(agent, list);
  }

  const proof: RevisionProof = { checked: 0, afterAck: 0, stale: 0, mismatched: 0, unstamped: 0, regressed: 0, examples: [] };
  const violation = (what: string, s: StampedResponse) => {
    if (proof.examples.length < 5) proof.examples.push(`${what}: agent ${s.agent + 1}, revision ${s.revision ?? "(none)"}, colour ${s.color}`);
  };
  for (const agent of agents) {
    const mine = responses.filter((s) => s.agent === agent && s.status === 200);
    const bySent = [...mine].sort((a, b) => a.sent - b.sent);
    const byDone = mine.map((s) => ({ done: s.done, revision: /^[0-9]+$/.test(s.revision ?? "") ? Number(s.revision) : NaN })).sort((a, b) => a.done - b.done);
    const floor = floors.get(agent) ?? [];
    let completed = 0;
    let newestCompleted = -Infinity;
    for (const s of bySent) {
      proof.checked++;
      while (completed < byDone.length && (byDone[completed] as { done: number }).done < s.sent) {
        const r = (byDone[completed] as { revision: number }).revision;
        if (Number.isFinite(r)) newestCompleted = Math.max(newestCompleted, r);
        completed++;
      }
      const known = floor[lastBefore(floor, (f) => f.at, s.sent)]?.revision;
      if (known !== undefined) proof.afterAck++;
      if (s.revision === undefined || !/^[0-9]+$/.test(s.revision)) {
        proof.unstamped++;
        violation("unstamped", s);
        continue;
      }
      const r = Number(s.revision);
      if (known !== undefined && r < known) {
        proof.stale++;
        violation(`routed by a revision older than ${known}, which its agent had acked`, s);
      }
      if (colorAt(r) !== s.color) {
        proof.mismatched++;
        violation(`revision ${r} routes to ${colorAt(r) ?? "nothing"}`, s);
      }
      if (r < newestCompleted) {
        proof.regressed++;
        violation(`older than revision ${newestCompleted}, already served by the same agent`, s);
      }
    }
  }
  return proof;
}
