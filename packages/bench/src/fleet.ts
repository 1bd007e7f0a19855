import type { Redis } from "ioredis";
import { waitFor } from "@switchyard/testkit";
import { spawnNode, type Proc } from "../../e2e/src/index.js";
import { sleep } from "./measure.js";

/**
 * What every fan-out figure shares: child processes that each run a share of a fleet, and a clock
 * that times one trigger (a write, or a raw PUBLISH) to the arrival of the N-th ack on an ack
 * channel in this process. Agents, raw subscribers and replica-fed agents are all timed by this
 * one clock, so their ratios compare like with like.
 */

export interface AckMessageLike {
  agent: string;
  revision: number;
  appliedAt: number;
}

interface Pending {
  channel: string;
  n: number;
  revision: number;
  agents: Set<string>;
  minAt: number;
  maxAt: number;
  lastArrival: number;
  done: () => void;
}

export interface Timed {
  /** Trigger → arrival of the N-th distinct ack here, in ms (performance.now()). */
  latency: number;
  /** max − min of the acks' appliedAt (Date.now() in the fleet, 1 ms resolution). */
  skew: number;
}

export class AckClock {
  private pending: Pending | undefined;

  constructor(private readonly sub: Redis) {
    sub.on("message", (channel: string, raw: string) => {
      const arrival = performance.now();
      const p = this.pending;
      if (!p || channel !== p.channel) return;
      let m: AckMessageLike;
      try {
        m = JSON.parse(raw) as AckMessageLike;
      } catch {
        return;
      }
      if (m.revision !== p.revision || p.agents.has(m.agent)) return;
      p.agents.add(m.agent);
      p.minAt = Math.min(p.minAt, m.appliedAt);
      p.maxAt = Math.max(p.maxAt, m.appliedAt);
      p.lastArrival = arrival;
      if (p.agents.size === p.n) p.done();
    });
  }

  /**
   * Times `trigger` (which makes revision `revision` happen) to the n-th ack of it on `channel`;
   * undefined when not all n acked within `timeoutMs`.
   */
  async time(channel: string, n: number, revision: number, trigger: () => Promise<unknown>, timeoutMs = 5000): Promise<Timed | undefined> {
    let done: () => void = () => undefined;
    const complete = new Promise<void>((r) => (done = r));
    const p: Pending = { channel, n, revision, agents: new Set(), minAt: Infinity, maxAt: -Infinity, lastArrival: 0, done };
    this.pending = p;
    const t0 = performance.now();
    await trigger();
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([complete.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(timer);
    this.pending = undefined;
    return ok ? { latency: p.lastArrival - t0, skew: p.maxAt - p.minAt } : undefined;
  }
}

/**
 * `procs` children of `script` (a bench file), each told COUNT = its share of n, all printing
 * {"ready":…} once started. `env` may differ per child (child i of a replica fleet reads replica i).
 */
export async function startFleet(
  name: string,
  script: string,
  n: number,
  procs: number,
  env: (i: number) => Record<string, string>,
  readyTimeoutMs = 60_000,
): Promise<Proc[]> {
  const share = Math.ceil(n / procs);
  const children = Array.from({ length: procs }, (_, i) =>
    spawnNode(`${name}-${i}`, ["--import", "tsx", "--conditions", "switchyard-source", `packages/bench/src/${script}`], {
      ...env(i),
      COUNT: String(Math.min(share, n - i * share)),
      ID_BASE: `${name}-p${i}`,
    }),
  );
  try {
    await waitFor(() => children.every((p) => {
      if (p.child.exitCode !== null) throw new Error(`${p.name} exited: ${p.output().slice(-2000)}`);
      return p.output().includes('"ready"');
    }), { timeoutMs: readyTimeoutMs, intervalMs: 50, what: `${n} of ${name} started` });
  } catch (err) {
    await stopFleet(children);
    throw err;
  }
  return children;
}

export async function stopFleet(procs: readonly Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop("SIGTERM", 5000)));
}

/**
 * Rounds of timed triggers: `rounds` × `perRound`, with a short uneven pause between writes so they
 * do not lock into phase with the fleet's 1 s heartbeats. Returns per-round latencies and skews and
 * how many triggers missed acks.
 */
export async function timedRounds(
  rounds: number,
  perRound: number,
  one: (k: number) => Promise<Timed | undefined>,
): Promise<{ lat: number[][]; skew: number[][]; incomplete: number }> {
  const out = { lat: [] as number[][], skew: [] as number[][], incomplete: 0 };
  for (let round = 0; round < rounds; round++) {
    const lat: number[] = [];
    const skew: number[] = [];
    for (let k = 0; k < perRound; k++) {
      const r = await one(k);
      if (r) {
        lat.push(r.latency);
        skew.push(r.skew);
      } else out.incomplete++;
      await sleep(2 + Math.random() * 8);
    }
    out.lat.push(lat);
    out.skew.push(skew);
  }
  return out;
}
