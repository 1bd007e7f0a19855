/**
 * The Node flags the agent is meant to run under: the package's start script, docker-compose.yml,
 * `pnpm demo` and the bench all launch it with these, and the cluster primary passes them on to
 * its workers. A flag V8 reads when the heap is created cannot be set from inside the process.
 *
 * --max-semi-space-size=8: an 8 MB semi-space for V8's young generation instead of Node's 16 MB.
 * Measured side by side here (10k routes, 1k pools): RSS after loading the snapshot ~91 MB instead
 * of ~95 MB, and shorter scavenges while it loads, for about 3% more CPU per proxied request at
 * saturation. 2 MB went further (RSS ~80 MB, scavenges under 1 ms) but cost ~15% CPU per request
 * (scavenges come eight times as often, each copying the objects of the requests in flight).
 */
export const AGENT_NODE_FLAGS: readonly string[] = Object.freeze(["--max-semi-space-size=8"]);

/** Recommended flags this process was not started with (compared by name, any value counts). */
export function missingNodeFlags(execArgv: readonly string[]): string[] {
  return AGENT_NODE_FLAGS.filter((flag) => {
    const name = flag.split("=")[0] as string;
    return !execArgv.some((a) => a === name || a.startsWith(`${name}=`));
  });
}
