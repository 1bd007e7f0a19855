import { setImmediate as yieldLoop } from "node:timers/promises";

/**
 * Cooperative work on a server's event loop: call `tick()` between small units of work; it yields
 * to the loop once `sliceMs` have passed since the last yield, so no run of work blocks requests
 * for longer than about one slice plus one unit.
 */
export class Slicer {
  private started = performance.now();
  constructor(private readonly sliceMs: number) {}

  async tick(): Promise<void> {
    if (performance.now() - this.started < this.sliceMs) return;
    await yieldLoop();
    this.started = performance.now();
  }
}
