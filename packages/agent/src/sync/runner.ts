import type { Logger } from "pino";
import { StoreReader, type Keys, type State } from "@switchyard/shared";
import { RedisLink, type LinkOptions } from "./link.js";
import { Proof, type ProofOptions } from "./proof.js";
import { SyncEngine } from "./sync.js";

export interface SyncRunnerOptions {
  link: Omit<LinkOptions, "channel">;
  proof: ProofOptions;
  /** While the last sync attempt failed and Redis is up, retry this often (recovery, not polling). */
  retryMs: number;
}

/** Wires the link, the sync engine and the proof together: one agent's (or one worker's) push flow. */
export class SyncRunner {
  readonly link: RedisLink;
  readonly engine: SyncEngine;
  readonly proof: Proof;
  private retry: NodeJS.Timeout | undefined;

  constructor(keys: Keys, opts: SyncRunnerOptions, install: (revision: number, state: State) => void, log: Logger) {
    this.link = new RedisLink({ ...opts.link, channel: keys.changes }, log);
    this.proof = new Proof(this.link.cmd, keys, opts.proof, log);
    this.engine = new SyncEngine({
      reader: new StoreReader(this.link.cmd, keys),
      log,
      install,
      onApplied: (revision, appliedAt) => this.proof.applied(revision, appliedAt),
    });
    this.link.on("message", (raw: string) => this.engine.onRaw(raw));
    // Messages published while disconnected are gone; the revision tells what was missed.
    this.link.on("up", () => this.engine.resync());
    this.retry = setInterval(() => {
      if (this.link.connected && this.engine.status().lastError !== null) this.engine.resync();
    }, opts.retryMs);
    this.retry.unref();
  }

  async start(): Promise<void> {
    this.proof.start();
    await this.link.start();
  }

  status() {
    return { ...this.engine.status(), redis: this.link.connected ? ("connected" as const) : ("disconnected" as const) };
  }

  async stop(): Promise<void> {
    clearInterval(this.retry);
    await this.proof.stop();
    await this.link.close();
  }
}
