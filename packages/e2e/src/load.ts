import { Agent } from "node:http";
import { get, type FleetAgent } from "./fleet.js";

export interface Sample {
  agent: number;
  /** When the request was sent (ms): for pacing and logs only, never for correctness. */
  start: number;
  /**
   * The lowest revision the response may have been routed by: the newest revision this agent had
   * acked, as far as the test knew when it sent the request (Load.acked). Causal, not a clock: the
   * request left after the test had seen the ack, so it reached the agent after the ack too.
   */
  floor: number;
  /** The revision of the table that routed it, as the agent stamped it (AGENT_REVISION_HEADER); NaN if unstamped. */
  revision: number;
  status: number;
  /** First word of the sample app's answer: its colour. */
  color: string;
}

export interface Load {
  samples: Sample[];
  errors: string[];
  /** Agent `agent` (an index into the fleet's agents) has acked `revision`: requests sent from now on must be routed by it or a newer one. */
  acked(agent: number, revision: number): void;
  stop(): Promise<void>;
}

/**
 * Continuous keep-alive load through every agent for one Host: `perAgent` sequential loops per agent.
 * Bounded: stops at `maxRequests` or after `maxMs`, whichever comes first, or when stop() is called.
 */
export function startLoad(agents: FleetAgent[], host: string, opts: { perAgent?: number; maxRequests?: number; maxMs?: number; floor?: number } = {}): Load {
  const { perAgent = 2, maxRequests = 60_000, maxMs = 120_000 } = opts;
  const samples: Sample[] = [];
  const errors: string[] = [];
  // `floor`: a revision every agent is known to have acked before the load starts.
  const floors = agents.map(() => opts.floor ?? 0);
  const deadline = Date.now() + maxMs;
  let running = true;
  const loops = agents.flatMap((a, i) =>
    Array.from({ length: perAgent }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (running && samples.length + errors.length < maxRequests && Date.now() < deadline) {
        const start = Date.now();
        const floor = floors[i] as number;
        try {
          const r = await get(a.host, a.port, host, agent);
          samples.push({ agent: i, start, floor, revision: r.revision, status: r.status, color: r.body.split(/[-\s]/)[0] ?? "" });
        } catch (err) {
          errors.push(`${a.id}: ${(err as Error).message}`);
        }
      }
      agent.destroy();
    }),
  );
  return {
    samples,
    errors,
    acked(agent, revision) {
      floors[agent] = Math.max(floors[agent] ?? 0, revision);
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

export const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

/** A revision the test wrote for the host under load, and the colour it routes the host to. */
export interface Routing {
  revision: number;
  color: string;
}

export interface RevisionCheck {
  /** Samples checked (every 200 with a stamp). */
  checked: number;
  /** Routed by a revision older than the one the agent had acked when the request reached it. */
  stale: Sample[];
  /** Answered by a colour other than the one its own routing revision sends the host to. */
  wrongColor: Sample[];
  /** 200s without the revision stamp: the proof is missing, which fails the check too. */
  unstamped: Sample[];
}

/**
 * The proof of a switch, from what the agents themselves report: every response was routed by a
 * revision at least as new as the one its agent had acked when the request reached it (the
 * sample's floor), and carries the colour that very revision routes to. Revisions between the
 * routings (other hosts' writes) route the host as the routing before them. Unlike comparing
 * colours with client-side times, this tells flip k+1 from flip k-1, and a request queued in the
 * client across a flip is judged by the revision that really served it.
 */
export function checkRevisions(samples: readonly Sample[], routings: readonly Routing[]): RevisionCheck {
  const sorted = [...routings].sort((a, b) => a.revision - b.revision);
  const colorAt = (revision: number): string | undefined => {
    let color: string | undefined;
    for (const r of sorted) {
      if (r.revision > revision) break;
      color = r.color;
    }
    return color;
  };
  const out: RevisionCheck = { checked: 0, stale: [], wrongColor: [], unstamped: [] };
  for (const s of samples) {
    if (s.status !== 200) continue;
    if (!Number.isInteger(s.revision)) {
      out.unstamped.push(s);
      continue;
    }
    out.checked++;
    if (s.revision < s.floor) out.stale.push(s);
    if (colorAt(s.revision) !== s.color) out.wrongColor.push(s);
  }
  return out;
}
