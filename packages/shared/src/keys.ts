/**
 * Every Redis key and channel Switchyard uses is built here and nowhere else.
 *
 * All names share one prefix that contains a `{hash tag}`, so a Redis Cluster keeps them in one
 * slot (the Lua scripts touch several keys at once). A prefix given without braces is wrapped
 * whole: `switchyard` becomes `{switchyard}`. Several fleets can share a Redis under different prefixes.
 */
export const DEFAULT_PREFIX = "switchyard";

const PREFIX_CHARS = /^[A-Za-z0-9:_.{}-]{1,64}$/;

export function prefixProblem(raw: string): string | undefined {
  if (!PREFIX_CHARS.test(raw)) return "prefix must be 1-64 characters of A-Z a-z 0-9 : _ . - { }";
  const open = raw.split("{").length - 1;
  const close = raw.split("}").length - 1;
  if (open === 0 && close === 0) return undefined;
  const m = /^[^{}]*\{([^{}]+)\}[^{}]*$/.exec(raw);
  if (open !== 1 || close !== 1 || !m) return "prefix must contain at most one non-empty {hash tag}";
  return undefined;
}

export function tagPrefix(raw: string): string {
  const problem = prefixProblem(raw);
  if (problem) throw new Error(`invalid key prefix '${raw}': ${problem}`);
  return raw.includes("{") ? raw : `{${raw}}`;
}

export interface Keys {
  readonly prefix: string;
  /** String: the single revision counter; absent means revision 0 (empty or restarted Redis). */
  readonly rev: string;
  /** String: JSON upstream used when no route matches; absent means none. */
  readonly default: string;
  /** Hash: pool name -> JSON pool. */
  readonly pools: string;
  /** Hash: normalized host -> JSON route. */
  readonly routes: string;
  /** Hash: pool name -> number of routes (and the default) that name it. */
  readonly refcount: string;
  /** Hash: host, or "@default", -> space-separated pool names it names. '@' never appears in a host. */
  readonly routeRefs: string;
  /** Stream: the last N changes, entry id `<revision>-0`, so catch-up is an XRANGE by revision. */
  readonly log: string;
  /** Stream: audit records, one per op, newest last. */
  readonly audit: string;
  /** Pub/sub channel: one message per committed revision (see protocol.ts). */
  readonly changes: string;
  /** Pub/sub channel: agents announce each revision they applied. */
  readonly acks: string;
  /** Sorted set: agent id scored by the time (ms) its heartbeat record expires. */
  readonly agents: string;
  /** String with a TTL: one agent's heartbeat record (JSON). */
  agent(id: string): string;
  /** Hash: fleet-wide cumulative traffic counters, fields `req:<upstream>` and `err:<upstream>`. */
  readonly stats: string;
  /** Pub/sub channel: preflight probe requests from the controller to every agent. */
  readonly probes: string;
  /** Hash with a TTL: agent id -> JSON ProbeReport for one probe request. */
  probeResults(probeId: string): string;
  /** Pub/sub channel: an agent announces it wrote its report for a probe (payload: probe id). */
  readonly probeDone: string;
  /** Hash: cutover id -> JSON cutover record. */
  readonly cutovers: string;
  /** Sorted set: cutover id scored by creation time (ms), for newest-first listing. */
  readonly cutoverIndex: string;
  /** Hash: cutover id -> its state, small enough to count on every metrics scrape. */
  readonly cutoverStates: string;
  /** String: the id of the active cutover holding a host (one active cutover per host). */
  cutoverLock(host: string): string;
  /** Hash: operator requests for a running cutover (`abort`, `promote`), kept apart from the record the worker rewrites. */
  cutoverControl(id: string): string;
  /** Stream: one cutover's progress events, for SSE. */
  cutoverEvents(id: string): string;
  /** Pub/sub channel: a cutover record was saved (payload: its id), for the controllers' event hubs. */
  readonly cutoverProgress: string;
  /** BullMQ's own prefix: inside the same hash tag, so its keys share the slot. */
  readonly bullPrefix: string;
}

export function buildKeys(rawPrefix: string = DEFAULT_PREFIX): Keys {
  const p = tagPrefix(rawPrefix);
  return {
    prefix: p,
    rev: `${p}:rev`,
    default: `${p}:default`,
    pools: `${p}:pools`,
    routes: `${p}:routes`,
    refcount: `${p}:refcount`,
    routeRefs: `${p}:route-refs`,
    log: `${p}:log`,
    audit: `${p}:audit`,
    changes: `${p}:changes`,
    acks: `${p}:acks`,
    agents: `${p}:agents`,
    agent: (id) => `${p}:agent:${id}`,
    stats: `${p}:stats`,
    probes: `${p}:probes`,
    probeResults: (id) => `${p}:probe:${id}`,
    probeDone: `${p}:probe-done`,
    cutovers: `${p}:cutovers`,
    cutoverIndex: `${p}:cutover-index`,
    cutoverStates: `${p}:cutover-states`,
    cutoverLock: (host) => `${p}:cutover-lock:${host}`,
    cutoverControl: (id) => `${p}:cutover-control:${id}`,
    cutoverEvents: (id) => `${p}:cutover-events:${id}`,
    cutoverProgress: `${p}:cutover-progress`,
    bullPrefix: `${p}:bull`,
  };
}
