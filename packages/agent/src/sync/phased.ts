/**
 * Runs `tick` every `intervalMs`, the first time after a random fraction of the interval. Agents
 * started together (a fleet rollout, a restarted host, a bench) would otherwise heartbeat and PING
 * Redis in the same instant for as long as they run. A tick still comes within one interval of the
 * start, so bounds stated in intervals (dead-link detection, record freshness) hold as before.
 * Unref'd: never keeps the process alive. `stop()` is idempotent and ends both phases.
 */
export function everyFromRandomPhase(intervalMs: number, tick: () => void): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout = setTimeout(() => {
    if (stopped) return;
    tick();
    timer = setInterval(tick, intervalMs);
    timer.unref();
  }, Math.random() * intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      // The phase timeout or the interval it became: clearTimeout clears both kinds.
      clearTimeout(timer);
    },
  };
}
