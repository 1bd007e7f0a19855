import { Agent } from "node:http";
import { get, type FleetAgent } from "./fleet.js";

export interface Sample {
  agent: number;
  /** When the request was sent (ms); compared with ack times to find requests routed after a flip. */
  start: number;
  status: number;
  /** First word of the sample app's answer: its colour. */
  color: string;
}

export interface Load {
  samples: Sample[];
  errors: string[];
  stop(): Promise<void>;
}

/**
 * Continuous keep-alive load through every agent for one Host: `perAgent` sequential loops per agent.
 * Bounded: stops at `maxRequests` or after `maxMs`, whichever comes first, or when stop() is called.
 */
export function startLoad(agents: FleetAgent[], host: string, opts: { perAgent?: number; maxRequests?: number; maxMs?: number } = {}): Load {
  const { perAgent = 2, maxRequests = 60_000, maxMs = 120_000 } = opts;
  const samples: Sample[] = [];
  const errors: string[] = [];
  const deadline = Date.now() + maxMs;
  let running = true;
  const loops = agents.flatMap((a, i) =>
    Array.from({ length: perAgent }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (running && samples.length + errors.length < maxRequests && Date.now() < deadline) {
        const start = Date.now();
        try {
          const r = await get(a.host, a.port, host, agent);
          samples.push({ agent: i, start, status: r.status, color: r.body.split(/[-\s]/)[0] ?? "" });
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
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

export const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

export interface Flip {
  color: string;
  writeAt: number;
  /** Agent id -> when it applied this flip (its ack). */
  acks: Map<string, number>;
}

/**
 * The proof that matters for a switch: a request sent to agent i after i acked flip k, and before
 * flip k+1 was written, must get flip k's colour. Counts such requests and those that did not.
 */
export function staleAfterAck(flips: Flip[], agentIds: string[], samples: { agent: number; start: number; color: string }[]): { checked: number; stale: number } {
  let stale = 0;
  let checked = 0;
  for (const [k, flip] of flips.entries()) {
    const nextWrite = flips[k + 1]?.writeAt ?? Infinity;
    for (const [i, id] of agentIds.entries()) {
      const ackAt = flip.acks.get(id);
      if (ackAt === undefined) continue;
      for (const s of samples) {
        if (s.agent !== i || s.start <= ackAt || s.start >= nextWrite) continue;
        checked++;
        if (s.color !== flip.color) stale++;
      }
    }
  }
  return { checked, stale };
}
