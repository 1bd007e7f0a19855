/**
 * The Node flags the agent is meant to run under: the package's start script, docker-compose.yml,
 * `pnpm demo` and the bench all launch it with these, and the cluster primary passes them on to
 * its workers. A flag V8 reads when the heap is created cannot be set from inside the process.
 *
 * --max-semi-space-size=2: a 2 MB young generation (Node's default grows to 16 MB). Each scavenge
 * copies at most that much, so GC pauses stay under ~1 ms while a 10k-route snapshot loads under
 * traffic (3 ms with the default, on top of the work slice), and RSS after loading it is ~15 MB
 * lower. The proxy's CPU per request is the same either way (pnpm bench, data path section).
 */
export const AGENT_NODE_FLAGS: readonly string[] = Object.freeze(["--max-semi-space-size=2"]);

/** Recommended flags this process was not started with (compared by name, any value counts). */
export function missingNodeFlags(execArgv: readonly string[]): string[] {
  return AGENT_NODE_FLAGS.filter((flag) => {
    const name = flag.split("=")[0] as string;
    return !execArgv.some((a) => a === name || a.startsWith(`${name}=`));
  });
}
