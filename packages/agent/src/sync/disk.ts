import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { Epoch, validateState } from "@switchyard/shared";
import type { Held } from "./sync-types.js";

/** Bump when the file's shape changes: a file of another format is refused, never guessed at. */
export const DISK_FORMAT = 1;
const FILE = "table.json";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * The last good table on disk (AGENT_STATE_DIR/table.json), so an agent restarted while Redis is
 * unreachable, or holds an entry that does not load, serves what it served before.
 *
 * File: `{"format":1,"sha256":"<hex of body>","body":"<JSON {epoch, revision, savedAt, state}>"}`.
 * Written after applies, coalesced (one write in flight; the newest table waiting replaces any
 * older one), through a tmp file that is fsynced and renamed over the old one, so a crash leaves
 * the old file or the new one, never half of one. Loaded whole or refused whole: a wrong format,
 * checksum, epoch or a state that fails validation is logged and ignored.
 */
export class DiskTable {
  private pending: Held | undefined;
  /** The lineage and revision of the table last written (null before any). */
  stored: { epoch: string; revision: number } | null = null;
  private writing: Promise<void> | undefined;

  constructor(private readonly dir: string, private readonly log: Logger) {}

  get path(): string {
    return join(this.dir, FILE);
  }

  async load(): Promise<Held | undefined> {
    let raw: string;
    try {
      raw = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.log.error({ path: this.path, err: (err as Error).message }, "cannot read the table on disk; starting without it");
      return undefined;
    }
    try {
      const outer = JSON.parse(raw) as { format?: unknown; sha256?: unknown; body?: unknown };
      if (outer.format !== DISK_FORMAT) throw new Error(`format ${String(outer.format)}, expected ${DISK_FORMAT}`);
      if (typeof outer.body !== "string" || outer.sha256 !== sha256(outer.body)) throw new Error("checksum mismatch");
      const body = JSON.parse(outer.body) as { epoch?: unknown; revision?: unknown; state?: unknown };
      const epoch = Epoch.parse(body.epoch);
      if (typeof body.revision !== "number" || !Number.isSafeInteger(body.revision) || body.revision < 0) throw new Error("bad revision");
      const held = { epoch, revision: body.revision, state: validateState(body.state) };
      this.stored = { epoch, revision: held.revision };
      return held;
    } catch (err) {
      this.log.error({ path: this.path, err: (err as Error).message.slice(0, 300) }, "refusing the table on disk: it is corrupt or of another format; starting without it");
      return undefined;
    }
  }

  /** Queues the table for writing; returns at once. Tables of no lineage are not kept. */
  save(held: Held): void {
    this.pending = held;
    this.writing ??= this.drain();
  }

  /** Resolves once every queued table is written (tests, shutdown). */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending) {
        const held = this.pending;
        this.pending = undefined;
        try {
          await this.write(held);
        } catch (err) {
          this.log.warn({ path: this.path, err: (err as Error).message }, "table not written to disk");
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async write(held: Held): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const body = JSON.stringify({ epoch: held.epoch, revision: held.revision, savedAt: Date.now(), state: held.state });
    const text = JSON.stringify({ format: DISK_FORMAT, sha256: sha256(body), body });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    this.stored = { epoch: held.epoch, revision: held.revision };
  }
}
