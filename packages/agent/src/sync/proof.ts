import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { PROTOCOL_VERSION, ProofWriter, type AgentRecord, type Keys, type PoolHealthReport } from "@switchyard/shared";
import type { AgentConfig } from "../config.js";
import { VERSION } from "../version.js";
import { everyFromRandomPhase } from "./phased.js";
import type { Rejection } from "./sync.js";

export interface ProofOptions {
  id: string;
  version: string;
  address: string;
  /** Heartbeat period; the record's TTL is `ttlMs`, so it is gone at most `ttlMs` after the agent dies. */
  intervalMs: number;
  ttlMs: number;
}

/** This agent's identity and heartbeat timing, from its configuration. */
export const proofOptions = (c: Pick<AgentConfig, "id" | "host" | "port" | "heartbeatMs" | "heartbeatTtlMs">): ProofOptions => ({
  id: c.id, version: VERSION, address: `${c.host}:${c.port}`, intervalMs: c.heartbeatMs, ttlMs: c.heartbeatTtlMs,
});

export type WorkerRevision = { pid: number; revision: number };

/**
 * Proof of apply. After revision R is installed the agent PUBLISHes an ack and rewrites its
 * heartbeat record in the same script (proof.lua), so the controller learns of R either from the ack (fast) or
 * from the record (if the ack was lost with a subscription). The record also carries liveness:
 * it expires `ttlMs` after the last heartbeat, and the `agents` sorted set indexes live ids.
 */
export class Proof {
  private readonly startedAt = Date.now();
  private revision = 0;
  private appliedAt: number | null = null;
  private beat: { stop(): void } | undefined;
  private stopped = false;
  private workers: WorkerRevision[] | undefined;
  private rejected: Rejection | null = null;
  private health: (() => PoolHealthReport[] | undefined) | undefined;
  private readonly writer: ProofWriter;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly opts: ProofOptions,
    private readonly log: Logger,
  ) {
    this.writer = new ProofWriter(redis, keys);
  }

  start(): void {
    void this.send(false);
    this.beat = everyFromRandomPhase(this.opts.intervalMs, () => void this.send(false));
  }

  applied(revision: number, appliedAt: number): void {
    this.revision = revision;
    this.appliedAt = appliedAt;
    void this.send(true);
  }

  /** Per-worker revisions for the record, when the agent runs several processes (its primary sets them). */
  setWorkers(workers: WorkerRevision[]): void {
    this.workers = workers;
  }

  /** Where the record's per-target health comes from (the edge's registry, or a primary's worker reports). */
  setHealthSource(source: () => PoolHealthReport[] | undefined): void {
    this.health = source;
  }

  /**
   * The nack the record carries: a refused revision, or null once cleared. A new refusal is
   * written at once (a heartbeat, not an ack); a clearing rides on the apply that follows it.
   */
  setRejected(rejected: Rejection | null): void {
    const same = rejected?.revision === this.rejected?.revision && rejected?.reason === this.rejected?.reason;
    this.rejected = rejected;
    if (rejected !== null && !same) void this.send(false);
  }

  record(): AgentRecord & { seenAt: number } {
    const { id, version, address } = this.opts;
    const rec: AgentRecord & { seenAt: number } = { id, revision: this.revision, appliedAt: this.appliedAt, startedAt: this.startedAt, version, address, seenAt: Date.now() };
    if (this.workers) rec.workers = this.workers;
    if (this.rejected) rec.rejected = this.rejected;
    const health = this.health?.();
    if (health !== undefined) rec.health = health;
    return rec;
  }

  private async send(ack: boolean): Promise<void> {
    if (this.stopped || this.redis.status !== "ready") return;
    const rec = this.record();
    try {
      await this.writer.send({
        record: rec,
        ttlMs: this.opts.ttlMs,
        // Pruning rides on heartbeats only: it keeps the ack path to the three writes it needs.
        ...(ack
          ? { ack: { v: PROTOCOL_VERSION, agent: rec.id, revision: rec.revision, appliedAt: rec.appliedAt ?? rec.seenAt } }
          : { pruneBefore: rec.seenAt - 60_000 }),
      });
    } catch (err) {
      // The next heartbeat carries the same revision; an ack lost here is recovered from the record.
      this.log.debug({ err: (err as Error).message }, "heartbeat not sent");
    }
  }

  /** Deregisters, so the controller stops waiting for this agent at once rather than after the TTL. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.beat?.stop();
    if (this.redis.status !== "ready") return;
    try {
      await this.redis.multi().del(this.keys.agent(this.opts.id)).zrem(this.keys.agents, this.opts.id).exec();
    } catch {
      // The TTL removes it anyway.
    }
  }
}
