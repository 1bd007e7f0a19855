import { z } from "zod";
import { ConfigError, LogLevelEnv, MIN_LOG_CAP, PrefixEnv, RedisEnv, envProblems, redisTarget, type RedisTarget } from "@switchyard/shared";

export { ConfigError };

export type Scope = "read" | "write";

export interface Token {
  name: string;
  scope: Scope;
  secret: string;
}

// Short secrets are guessable; 16 characters is the floor, `openssl rand -hex 24` gives 48.
const MIN_SECRET = 16;

function parseTokens(raw: string, ctx: z.RefinementCtx): Token[] {
  const tokens: Token[] = [];
  const entries = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) {
    ctx.addIssue({ code: "custom", message: "no tokens configured; there is no open mode. Set name:scope:secret entries, e.g. ops:write:$(openssl rand -hex 24)" });
  }
  for (const [i, entry] of entries.entries()) {
    const [name = "", scope = "", ...rest] = entry.split(":");
    const secret = rest.join(":");
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) ctx.addIssue({ code: "custom", message: `entry ${i + 1}: name must be 1-64 of A-Z a-z 0-9 _ . -` });
    if (scope !== "read" && scope !== "write") ctx.addIssue({ code: "custom", message: `entry ${i + 1} (${name}): scope must be read or write` });
    if (secret.length < MIN_SECRET) ctx.addIssue({ code: "custom", message: `entry ${i + 1} (${name}): secret must be at least ${MIN_SECRET} characters` });
    if (tokens.some((t) => t.name === name)) ctx.addIssue({ code: "custom", message: `entry ${i + 1}: duplicate name '${name}'` });
    if (tokens.some((t) => t.secret === secret)) ctx.addIssue({ code: "custom", message: `entry ${i + 1} (${name}): duplicate secret` });
    tokens.push({ name, scope: scope as Scope, secret });
  }
  return tokens;
}

const Port = z.coerce.number().int().min(0).max(65535);

const Env = z.object({
  /** Where Redis is: REDIS_URL (shared redis-target.ts). */
  ...RedisEnv,
  SWITCHYARD_PREFIX: PrefixEnv,
  /** Loopback by default: exposing the API is a decision, not an accident. */
  CONTROLLER_HOST: z.string().min(1).default("127.0.0.1"),
  CONTROLLER_PORT: Port.default(7070),
  /** Comma-separated name:scope:secret. Required: the controller refuses to start without tokens. */
  SWITCHYARD_TOKENS: z.string({ error: "is required; there is no open mode" }).transform(parseTokens),
  /** Revisions kept in the change log for catch-up without a snapshot. */
  SWITCHYARD_LOG_CAP: z.coerce.number().int().min(MIN_LOG_CAP).default(10_000),
  /** Audit records kept (approximately; Redis trims whole stream nodes). */
  SWITCHYARD_AUDIT_CAP: z.coerce.number().int().min(100).default(10_000),
  /** A hung Redis (SIGSTOP keeps the socket open) turns into 503 after this; keep it under 3 s. */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(100).max(2900).default(1500),
  /** A controller that dies mid-cutover hands the job to another after about twice this. */
  CUTOVER_LOCK_MS: z.coerce.number().int().min(1000).max(300_000).default(10_000),
  /** How often a cutover reads the edges' traffic counters and the operator's controls. */
  CUTOVER_SAMPLE_MS: z.coerce.number().int().min(100).max(10_000).default(1000),
  /**
   * Once the store is found uninitialised and an agent offers its table, wait this long (ms) for the
   * rest of the fleet's offers before restoring the newest. Agents notice within ~1 s (their
   * watchdog reads the store's epoch every second), so the default 1500 hears a healthy fleet.
   */
  STORE_GATHER_MS: z.coerce.number().int().min(0).max(60_000).default(1500),
  /** Default 0 (off): replicas that must confirm each write (Redis WAIT) before it answers 200; else 503 replication_timeout. */
  SWITCHYARD_MIN_REPLICAS: z.coerce.number().int().min(0).max(16).default(0),
  LOG_LEVEL: LogLevelEnv,
});

export type ControllerConfig = {
  redis: RedisTarget;
  prefix: string;
  host: string;
  port: number;
  tokens: Token[];
  logCap: number;
  auditCap: number;
  redisCommandTimeoutMs: number;
  cutoverLockMs: number;
  cutoverSampleMs: number;
  storeGatherMs: number;
  minReplicas: number;
  logLevel: string;
};

/** Parses the environment once; every problem is reported together. */
export function loadConfig(env: NodeJS.ProcessEnv): ControllerConfig {
  const r = Env.safeParse(env);
  if (!r.success) {
    throw new ConfigError(envProblems(r.error));
  }
  const e = r.data;
  return {
    redis: redisTarget(e),
    prefix: e.SWITCHYARD_PREFIX,
    host: e.CONTROLLER_HOST,
    port: e.CONTROLLER_PORT,
    tokens: e.SWITCHYARD_TOKENS,
    logCap: e.SWITCHYARD_LOG_CAP,
    auditCap: e.SWITCHYARD_AUDIT_CAP,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    cutoverLockMs: e.CUTOVER_LOCK_MS,
    cutoverSampleMs: e.CUTOVER_SAMPLE_MS,
    storeGatherMs: e.STORE_GATHER_MS,
    minReplicas: e.SWITCHYARD_MIN_REPLICAS,
    logLevel: e.LOG_LEVEL,
  };
}
