import { z } from "zod";
import { prefixProblem } from "./keys.js";

/**
 * Environment settings both processes read the same way, so the controller and the agents can
 * never disagree on where the fleet lives or how a prefix is spelled.
 */

/** Where the fleet state lives. */
export const RedisUrlEnv = z.url({ protocol: /^rediss?$/ }).default("redis://127.0.0.1:6379");

/** Key prefix; wrapped in a {hash tag} when it has none. Fleets sharing a Redis use different prefixes. */
export const PrefixEnv = z.string().default("switchyard").superRefine((p, ctx) => {
  const problem = prefixProblem(p);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

export const LogLevelEnv = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info");

/** A bad environment: every problem, listed in one message. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export const envProblems = (err: z.ZodError): string[] => err.issues.map((i) => `${i.path.join(".")}: ${i.message}`);

/**
 * Reconnect delay for every Redis connection: exponential from 100 ms, capped at 2 s, with jitter
 * so a fleet of agents (or several controllers) does not hammer a recovering Redis in lockstep.
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(2000, 50 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
}
