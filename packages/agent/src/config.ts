import { availableParallelism, hostname } from "node:os";
import { z } from "zod";
import { AgentId, ConfigError, LogLevelEnv, PrefixEnv, RedisEnv, envProblems, redisTarget } from "@switchyard/shared";

export { ConfigError };

const Port = z.coerce.number().int().min(0).max(65535);
const Ms = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

// Fields whose meaning the edge or Node sets itself, and the hop-by-hop ones it strips: a revision
// stamped under one of these names would change the response's framing or be removed.
const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
  "content-length", "content-type", "date", "host", "set-cookie", "location",
]);
const RevisionHeader = z
  .string()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/, "must be one header field name (RFC 9110 token, at most 64 characters)")
  .refine((name) => !RESERVED_FIELDS.has(name.toLowerCase()), "names a field the edge sets or strips itself; pick another name");

const ENGINE_RETIRED = "h1 is the only engine (undici and http-proxy were retired; WebSocket upgrades still use http-proxy): set h1 or unset it";

const Env = z
  .object({
    /** Where Redis is: REDIS_URL, or Sentinel (shared redis-target.ts). */
    ...RedisEnv,
    SWITCHYARD_PREFIX: PrefixEnv,
    /** Defaults to `<hostname>:<AGENT_PORT>`, unique per machine and port. */
    AGENT_ID: AgentId.optional(),
    /** The proxy listens on every interface by default: it is the edge. */
    AGENT_HOST: z.string().min(1).default("0.0.0.0"),
    AGENT_PORT: Port.default(8080),
    /** The admin listener exposes state; loopback unless deliberately opened. */
    AGENT_ADMIN_HOST: z.string().min(1).default("127.0.0.1"),
    AGENT_ADMIN_PORT: Port.default(9901),
    /** An upstream that does not answer in time gets 504. */
    AGENT_UPSTREAM_TIMEOUT_MS: Ms(1, 3_600_000).default(30_000),
    /** CIDRs whose X-Forwarded-* the edge extends instead of replacing; none by default. */
    AGENT_TRUSTED_PROXIES: z.string().default(""),
    /** SIGTERM waits this long for in-flight requests before closing what is left. */
    AGENT_DRAIN_TIMEOUT_MS: Ms(0, 600_000).default(10_000),
    /** Heartbeat period (<= 2 s) and record TTL (<= 6 s): a dead agent disappears within the TTL. */
    AGENT_HEARTBEAT_MS: Ms(100, 2000).default(1000),
    AGENT_HEARTBEAT_TTL_MS: Ms(500, 6000).default(5000),
    /** Watchdog PING period and deadline; together they bound dead-link detection (3 s). */
    AGENT_PING_INTERVAL_MS: Ms(100, 2000).default(1000),
    AGENT_PING_TIMEOUT_MS: Ms(100, 2000).default(1000),
    /**
     * The forwarding engine: h1, the agent's own HTTP/1.1 upstream client, is the only one (WebSocket
     * upgrades go through http-proxy). The undici and http-proxy engines were retired; the variable
     * stays so that a setting naming them is refused by name rather than silently ignored.
     */
    AGENT_ENGINE: z.enum(["h1"], { error: ENGINE_RETIRED }).default("h1"),
    /**
     * Plain bodiless requests are read and answered straight on the client's socket (serve/front/),
     * everything else through Node's HTTP server. `off` sends every request through Node's server:
     * the escape hatch if the fast path ever misreads a client.
     */
    AGENT_FAST_PATH: z.enum(["on", "off"]).default("on"),
    /**
     * Request header fields whose names contain `_` are dropped (nginx's `underscores_in_headers
     * off`): CGI, WSGI and PHP upstreams read `X_Real_IP` as `X-Real-IP`. `pass` forwards them.
     */
    AGENT_UNDERSCORE_HEADERS: z.enum(["drop", "pass"]).default("drop"),
    /**
     * Off by default. A header field name: every response the edge sends (forwarded ones and its own
     * 404/502/504 for a routed request) carries it, with the revision of the table that routed the
     * request, so a test or an operator can prove which revision served what.
     */
    AGENT_REVISION_HEADER: RevisionHeader.optional(),
    /**
     * Where the agent keeps its last good table (`table.json`), loaded at start before Redis
     * answers. Unset by default: no disk copy, and an agent started while Redis is unreachable is
     * not ready until Redis answers. Compose mounts a named volume per agent at /var/lib/switchyard.
     */
    AGENT_STATE_DIR: z.string().min(1).optional(),
    /**
     * `GET /metrics` (Prometheus) on the admin listener, which is loopback unless AGENT_ADMIN_HOST
     * opens it. `off` leaves the endpoint out (404) and the request path uncounted.
     */
    AGENT_METRICS: z.enum(["on", "off"]).default("on"),
    /**
     * Off by default. `on`: one JSON line per request (pino, at info whatever LOG_LEVEL says): host,
     * method, path, status, upstream, target, duration_ms, revision, request_id.
     */
    AGENT_ACCESS_LOG: z.enum(["on", "off"]).default("off"),
    /** Proxy processes; `auto` = one per core. Each keeps its own subscription and table. */
    AGENT_WORKERS: z.union([z.literal("auto"), z.coerce.number().int().min(1).max(64)]).default(1),
    LOG_LEVEL: LogLevelEnv,
  });

/**
 * Checks across fields. zod skips object-level refinements once any field fails, which would hide
 * these behind the first typo, so they run on each field's own parse result instead.
 */
function crossFieldProblems(env: NodeJS.ProcessEnv): string[] {
  const num = (k: "AGENT_PING_INTERVAL_MS" | "AGENT_PING_TIMEOUT_MS" | "AGENT_HEARTBEAT_MS" | "AGENT_HEARTBEAT_TTL_MS") => {
    const r = Env.shape[k].safeParse(env[k]);
    return r.success ? r.data : undefined;
  };
  const problems: string[] = [];
  const [interval, timeout, beat, ttl] = [num("AGENT_PING_INTERVAL_MS"), num("AGENT_PING_TIMEOUT_MS"), num("AGENT_HEARTBEAT_MS"), num("AGENT_HEARTBEAT_TTL_MS")];
  if (interval !== undefined && timeout !== undefined && interval + timeout > 3000) {
    problems.push("AGENT_PING_TIMEOUT_MS: ping interval + timeout must be <= 3000 ms (dead-link detection bound)");
  }
  if (beat !== undefined && ttl !== undefined && ttl < 2 * beat) {
    problems.push("AGENT_HEARTBEAT_TTL_MS: TTL must be at least twice the heartbeat period");
  }
  return problems;
}

export type AgentConfig = ReturnType<typeof shape>;

function shape(e: z.output<typeof Env>) {
  return {
    redisUrl: e.REDIS_URL,
    /** Where Redis is, Sentinel included (shared redis-target.ts). */
    redis: redisTarget(e),
    prefix: e.SWITCHYARD_PREFIX,
    id: e.AGENT_ID ?? `${hostname()}:${e.AGENT_PORT}`,
    host: e.AGENT_HOST,
    port: e.AGENT_PORT,
    adminHost: e.AGENT_ADMIN_HOST,
    adminPort: e.AGENT_ADMIN_PORT,
    upstreamTimeoutMs: e.AGENT_UPSTREAM_TIMEOUT_MS,
    trustedProxies: e.AGENT_TRUSTED_PROXIES,
    drainTimeoutMs: e.AGENT_DRAIN_TIMEOUT_MS,
    heartbeatMs: e.AGENT_HEARTBEAT_MS,
    heartbeatTtlMs: e.AGENT_HEARTBEAT_TTL_MS,
    pingIntervalMs: e.AGENT_PING_INTERVAL_MS,
    pingTimeoutMs: e.AGENT_PING_TIMEOUT_MS,
    engine: e.AGENT_ENGINE,
    fastPath: e.AGENT_FAST_PATH === "on",
    underscoreHeaders: e.AGENT_UNDERSCORE_HEADERS,
    revisionHeader: e.AGENT_REVISION_HEADER,
    stateDir: e.AGENT_STATE_DIR,
    metrics: e.AGENT_METRICS === "on",
    accessLog: e.AGENT_ACCESS_LOG === "on",
    workers: e.AGENT_WORKERS === "auto" ? availableParallelism() : e.AGENT_WORKERS,
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * Parses the environment once; every problem is reported together. `extra` adds checks that live
 * elsewhere (the trusted-proxy CIDRs are parsed by the serve layer) on the raw environment.
 */
export function loadConfig(env: NodeJS.ProcessEnv, extra: (env: NodeJS.ProcessEnv) => string[] = () => []): AgentConfig {
  const r = Env.safeParse(env);
  const problems = [
    ...(r.success ? [] : envProblems(r.error)),
    ...crossFieldProblems(env),
    ...extra(env),
  ];
  if (!r.success || problems.length > 0) throw new ConfigError(problems);
  return shape(r.data);
}

/** `loadConfig` for an entry point: a bad environment prints one message listing every problem and exits 2. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv, extra?: (env: NodeJS.ProcessEnv) => string[]): AgentConfig {
  try {
    return loadConfig(env, extra);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`switchyard-agent: ${err.message}\n`);
    process.exit(2);
  }
}
