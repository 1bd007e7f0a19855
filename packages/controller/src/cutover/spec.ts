import { z } from "zod";
import { Host, Upstream, parseDuration, type Route } from "@switchyard/shared";

/** "500ms", "30s", "1m30s", "1h" -> milliseconds (the syntax the CLI shares, `shared/duration.ts`). */
export const Duration = (max: number) =>
  z.string().transform((s, ctx) => {
    const ms = parseDuration(s) ?? NaN;
    if (!(ms >= 0 && ms <= max)) {
      ctx.addIssue({ code: "custom", message: `must be a duration such as 500ms, 30s or 2m, at most ${max / 1000}s` });
      return z.NEVER;
    }
    return ms;
  });

const Canary = z.strictObject({
  canary: z.strictObject({
    steps: z
      .array(z.int().min(1).max(100))
      .min(1)
      .max(20)
      .refine((s) => s.every((w, i) => i === 0 || w > (s[i - 1] as number)), { message: "steps must increase" })
      .refine((s) => s.at(-1) === 100, { message: "the last step must be 100" }),
    interval: Duration(3_600_000),
  }),
});

export const CutoverRequest = z
  .strictObject({
    host: Host.optional(),
    hosts: z.array(Host).min(1).max(100).optional(),
    to: Upstream,
    from: Upstream.optional(),
    strategy: z.union([z.literal("instant"), Canary]).default("instant"),
    preflight: z
      .union([
        z.boolean(),
        z.strictObject({
          path: z.string().max(1024).regex(/^\/[^\s\0]*$/, { message: "path must start with '/' and contain no spaces, CR, LF or NUL" }).optional(),
          timeout: Duration(60_000).refine((ms) => ms >= 1, { message: "timeout must be at least 1ms" }).optional(),
        }),
      ])
      .default(true),
    ackTimeout: Duration(600_000).default(5000),
    bake: Duration(86_400_000).default(30_000),
    rollback: z
      .strictObject({
        maxErrorRate: z.number().min(0).max(1).default(0.05),
        /** Requests for the switched hosts on the new upstream, seen by the agents, before a canary step may move on. */
        minRequests: z.int().min(1).max(1_000_000).default(20),
        /** How long a canary step holds for minRequests before the cutover fails inconclusive. Default: 10 × interval. */
        maxWait: Duration(86_400_000).optional(),
      })
      .default({ maxErrorRate: 0.05, minRequests: 20 }),
    at: z.iso.datetime({ offset: true, error: "at must be an ISO time with a zone, such as 2026-11-24T18:00:00Z" }).optional(),
  })
  .superRefine((b, ctx) => {
    if ((b.host === undefined) === (b.hosts === undefined)) ctx.addIssue({ code: "custom", message: "give exactly one of host or hosts" });
    if (b.hosts && new Set(b.hosts).size !== b.hosts.length) ctx.addIssue({ code: "custom", path: ["hosts"], message: "hosts repeat" });
  });
export type CutoverRequest = z.output<typeof CutoverRequest>;

export const TERMINAL = ["succeeded", "rolled_back", "failed", "aborted"] as const;
export type CutoverState = "scheduled" | "preflight" | "switching" | "waiting_acks" | "baking" | (typeof TERMINAL)[number];
export const isTerminal = (s: CutoverState) => (TERMINAL as readonly string[]).includes(s);

export interface StepRecord {
  index: number;
  weight: number;
  revision: number | null;
  writtenAt: string | null;
  acks: { id: string; appliedAt: string }[];
  stragglers: string[];
  /** Set once the step's watch window passed; a resumed run starts at the first step without it. */
  completedAt: string | null;
  /** A canary step passed over by promote: never written. */
  skipped?: boolean;
}

export interface Reading {
  at: string;
  requests: number;
  errors: number;
  errorRate: number;
}

export interface PreflightReport {
  ok: boolean;
  targets: Record<string, { ok: boolean; agents: Record<string, { ok: boolean; status?: number; error?: string; ms: number }> }>;
  missingAgents: string[];
}

/** The persisted cutover. The worker is its only writer; operators' requests go to the control hash. */
export interface CutoverRecord {
  id: string;
  hosts: string[];
  to: Upstream;
  from: Record<string, Upstream | null>;
  /** The routes as they were, restored whole on rollback or abort (rules included). */
  original: Record<string, Route | null>;
  strategy: "instant" | { canary: { steps: number[]; interval: string } };
  weights: number[];
  intervalMs: number;
  /** `expectStatus`: the pool's health check's healthy statuses, when preflight follows that check. */
  preflight: { path: string; timeoutMs: number; expectStatus?: string } | null;
  ackTimeoutMs: number;
  bakeMs: number;
  /** `maxWaitMs` is absent from records written before canaries held for evidence (then 10 × interval). */
  rollback: { maxErrorRate: number; minRequests: number; maxWaitMs?: number };
  at: string | null;
  state: CutoverState;
  step: { index: number; total: number; weight: number } | null;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  steps: StepRecord[];
  /** The write that put the original routes back (rollback or abort), with its acks. */
  restore: StepRecord | null;
  /** Saved before the restore is written, so a run that dies mid-restore resumes into it. */
  reverting: { state: "rolled_back" | "aborted" | "failed"; reason: string } | null;
  readings: Reading[];
  preflightResult: PreflightReport | null;
  /** The fence: the fleet revision after this cutover's last own write (or when it began). */
  lastRevision: number;
  /** The watch window in progress, kept so a resumed worker continues it rather than restarting it. */
  window: { step: number; startedAt: number; baseRequests: number; baseErrors: number } | null;
  worker: string | null;
}

/** The API view: internal bookkeeping stays out. */
export function view(r: CutoverRecord) {
  const { original: _o, weights: _w, intervalMs: _i, window: _win, lastRevision: _l, worker: _k, preflightResult, ...rest } = r;
  return { ...rest, preflight: preflightResult };
}
