import type { Logger } from "pino";
import { StoreReader, type Keys, type Slicer, type State } from "@switchyard/shared";
import { ProbeResponder } from "../signals/probes.js";
import { RedisLink, type LinkOptions } from "./link.js";
import { Proof, type ProofOptions } from "./proof.js";
import { SyncEngine } from "./sync.js";

export interface SyncRunnerOptions {
  link: Omit<LinkOptions, "channel" | "channels">;
  /** Heartbeat and acks from this runner; absent in a cluster worker, whose primary proves for all workers. */
  proof?: ProofOptions;
  /** Called after every install (a cluster worker reports to its primary here). */
  onApplied?: (revision: number, appliedAt: number) => void;
  /** Identity in probe reports when there is no proof. */
  agentId?: string;
  /** While the last sync attempt failed and Redis is up, retry this often (recovery, not polling). */
  retryMs: number;
  /** Shared by snapshot reads and the install that follows them (see SyncDeps.slicer). */
  slicer?: Slicer;
  /** Also answer preflight probes on `keys.probes`, reporting as `proof.id` (one responder per agent). */
  probes?: boolean;
}

/** Wires the link, the sync engine and the proof together: one agent's (or one worker's) push flow. */
export class SyncRunner {
  readonly link: RedisLink;
  readonly engine: SyncEngine;
  readonly proof: Proof | undefined;
  readonly probes: ProbeResponder | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(keys: Keys, opts: SyncRunnerOptions, install: (revision: number, state: State) => void | Promise<void>, log: Logger) {
    const channels: Record<string, string> = opts.probes ? { probe: keys.probes } : {};
    this.link = new RedisLink({ ...opts.link, channel: keys.changes, channels }, log);
    const proof = opts.proof ? new Proof(this.link.cmd, keys, opts.proof, log) : undefined;
    this.proof = proof;
    this.engine = new SyncEngine({
      reader: new StoreReader(this.link.cmd, keys),
      log,
      install,
      ...(opts.slicer ? { slicer: opts.slicer } : {}),
      onApplied: (revision, appliedAt) => {
        proof?.applied(revision, appliedAt);
        opts.onApplied?.(revision, appliedAt);
      },
    });
    this.link.on("message", (raw: string) => this.engine.onRaw(raw));
    const probes = opts.probes ? new ProbeResponder({ redis: this.link.cmd, keys, agentId: opts.proof?.id ?? opts.agentId ?? "unknown", log }) : undefined;
    if (probes) this.link.on("probe", (raw: string) => probes.handle(raw));
    this.probes = probes;
    // Messages published while disconnected are gone; the revision tells what was missed.
    this.link.on("up", () => this.engine.resync());
    this.retry = setInterval(() => {
      if (this.link.connected && this.engine.status().lastError !== null) this.engine.resync();
    }, opts.retryMs);
    this.retry.unref();
  }

  async start(): Promise<void> {
    this.proof?.start();
    await this.link.start();
  }

  status() {
    return { ...this.engine.status(), redis: this.link.connected ? ("connected" as const) : ("disconnected" as const) };
  }

  async stop(): Promise<void> {
    clearInterval(this.retry);
    this.probes?.close();
    await this.proof?.stop();
    await this.link.close();
  }
}
