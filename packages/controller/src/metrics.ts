import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { ReplicationShort, StoreWriter, ValidationError, WriteRefused, type Keys, type Op, type StoreReader, type WriteOptions, type WriteResult } from "@switchyard/shared";
import type { CutoverRepo } from "./cutover/repo.js";
import { TERMINAL } from "./cutover/spec.js";
import { listAgents } from "./fleet/agents.js";

/** Outcomes of a write, the `result` label of switchyard_controller_writes_total. */
export const WRITE_RESULTS = ["committed", "noop", "dry_run", "refused", "failed"] as const;
export type WriteOutcome = (typeof WRITE_RESULTS)[number];

const CUTOVER_STATES = ["scheduled", "preflight", "switching", "waiting_acks", "baking", ...TERMINAL] as const;

export interface MetricsSources {
  reader: StoreReader;
  redis: Redis;
  keys: Keys;
  repo: CutoverRepo;
  log: Logger;
}

/**
 * The controller's Prometheus metrics, on a registry of its own (several apps in one test process
 * never collide). Labels are bounded sets (write results, cutover states): no host, pool or agent
 * label, so cardinality does not grow with the fleet. The revision, agent and cutover gauges are
 * read from Redis at scrape time, so every controller sharing a Redis reports the same truth; a
 * scrape during a Redis outage drops those series (rather than repeat stale values) and keeps the rest.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly writes: Counter<"result">;
  /** Write (the change published) -> an agent's ack, one observation per agent per revision (fleet/apply-timer.ts). */
  readonly applySeconds: Histogram;

  constructor(src: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.writes = new Counter({ name: "switchyard_controller_writes_total", help: "Writes by outcome: committed, noop (the state already matched), dry_run, refused (4xx from the store: If-Match, references, pool in use, not found) and failed (Redis errors).", labelNames: ["result"], registers });
    for (const result of WRITE_RESULTS) this.writes.inc({ result }, 0);
    this.applySeconds = new Histogram({
      name: "switchyard_controller_apply_seconds",
      help: "Seconds from a revision's publication to each agent's ack of it, as this controller heard both (one clock).",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const fromRedis = (what: string, read: (g: Gauge<string>) => Promise<void>) =>
      async function collect(this: Gauge<string>) {
        try {
          await read(this);
        } catch (err) {
          this.reset();
          src.log.warn({ err: (err as Error).message, metric: what }, "metrics scrape could not read Redis");
        }
      };
    new Gauge({ name: "switchyard_controller_revision", help: "The fleet's current revision, read from Redis.", registers, collect: fromRedis("revision", async (g) => g.set(await src.reader.revision())) });
    new Gauge({ name: "switchyard_controller_agents", help: "Live agents (heartbeat not expired).", registers, collect: fromRedis("agents", async (g) => g.set((await listAgents(src.redis, src.keys)).length)) });
    new Gauge({
      name: "switchyard_cutovers",
      help: "Cutovers by state.",
      labelNames: ["state"],
      registers,
      collect: fromRedis("cutovers", async (g) => {
        const counts = await src.repo.stateCounts();
        for (const state of CUTOVER_STATES) g.set({ state }, counts.get(state) ?? 0);
      }),
    });
  }
}

/** The store writer with every write counted by outcome: API writes and cutover steps alike. */
export class MeteredWriter extends StoreWriter {
  /** `minReplicas` (SWITCHYARD_MIN_REPLICAS): replicas that must confirm a revision (WAIT) before it is reported written. */
  constructor(private readonly conn: Redis, keys: Keys, logCap: number, auditCap: number, private readonly metrics: ControllerMetrics, private readonly minReplicas = 0) {
    super(conn, keys, logCap, auditCap);
  }

  override async write(ops: Op[], opts: WriteOptions): Promise<WriteResult> {
    try {
      const result = await super.write(ops, opts);
      if (this.minReplicas > 0) await this.replicated(result.revision);
      this.metrics.writes.inc({ result: "committed" });
      return result;
    } catch (err) {
      this.metrics.writes.inc({ result: err instanceof WriteRefused || err instanceof ValidationError ? "refused" : "failed" });
      throw err;
    }
  }

  /**
   * WAIT on the connection that wrote: Redis answers once `minReplicas` replicas acknowledged every
   * write this connection sent, or after the timeout with how many did. The timeout stays under the
   * command timeout so WAIT's own answer arrives (throws ReplicationShort, answered 503).
   */
  private async replicated(revision: number): Promise<void> {
    const timeout = Math.max(100, (this.conn.options.commandTimeout ?? 1500) - 300);
    const confirmed = Number(await this.conn.wait(this.minReplicas, timeout));
    if (confirmed < this.minReplicas) throw new ReplicationShort(revision, confirmed, this.minReplicas, timeout);
  }
}
