import { setImmediate as yieldLoop } from "node:timers/promises";

/**
 * Cooperative work on a server's event loop: call `tick()` between small units of work; it yields
 * to the loop once `sliceMs` of work have run without the loop getting a turn, so no run of work
 * blocks requests for longer than about one slice plus one unit.
 *
 * The budget counts from the start of the current run, not from the last yield: once the loop has
 * had a turn for any reason (an await on I/O, the previous change long finished), the next tick
 * starts a fresh slice. So a small change is applied in one go, with no loop turn added to its
 * latency, while a 10k-route reload still gives way every slice. A run is detected with one
 * setImmediate marker per run: it fires only once the loop has turned.
 */
export class Slicer {
  private started = 0;
  private inRun = false;
  private readonly endRun = (): void => {
    this.inRun = false;
  };

  constructor(private readonly sliceMs: number) {}

  async tick(): Promise<void> {
    if (!this.inRun) {
      this.inRun = true;
      this.started = performance.now();
      setImmediate(this.endRun);
      return;
    }
    if (performance.now() - this.started < this.sliceMs) return;
    await yieldLoop();
    // The loop turned (the marker has fired), so this is a new run.
    this.inRun = true;
    this.started = performance.now();
    setImmediate(this.endRun);
  }
}
