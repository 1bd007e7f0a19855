/** Shapes of the controller's answers, as far as the CLI reads them. */

export type Upstream = string | { split: Record<string, number> };

export interface Route {
  upstream?: Upstream;
  rules?: { path: string; upstream: Upstream }[];
}

export interface Pool {
  targets: { address: string; weight?: number; drain?: boolean }[];
  keepalive?: number;
  healthCheck?: Record<string, unknown>;
  passive?: Record<string, unknown>;
  slowStart?: string;
  retry?: { on: string[]; tries?: number };
}

/** `GET /v1/pools/:name/health`: each live agent's view of the pool's targets. */
export interface PoolHealthView {
  agent: string;
  panic?: boolean;
  targets: { address: string; state: string; since: string | null; lastError: string | null }[];
}

export interface FleetState {
  revision: number;
  defaultUpstream: Upstream | null;
  pools: Record<string, Pool>;
  routes: Record<string, Route>;
}

export interface Agent {
  id: string;
  revision: number;
  lag: number;
  appliedAt: string | null;
  lastSeen: string | null;
  startedAt?: string | null;
  version?: string;
  address?: string;
}

export interface WriteResult {
  revision: number;
}

export interface WaitResult extends WriteResult {
  complete: boolean;
  applied: { id: string; appliedAt: string | number }[];
  missing: string[];
}

export const TERMINAL_STATES = ["succeeded", "rolled_back", "failed", "aborted"] as const;
export type CutoverState =
  | "scheduled" | "preflight" | "switching" | "waiting_acks" | "baking"
  | (typeof TERMINAL_STATES)[number];

export const isTerminal = (s: string): boolean => (TERMINAL_STATES as readonly string[]).includes(s);

export interface CutoverStep {
  index: number;
  weight: number;
  revision: number | null;
  writtenAt: string | null;
  acks: { id: string; appliedAt: string }[];
  stragglers: string[];
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

export interface Cutover {
  id: string;
  hosts: string[];
  to: Upstream;
  from: Record<string, Upstream | null>;
  strategy: "instant" | { canary: { steps: number[]; interval: string } };
  state: CutoverState;
  step: { index: number; total: number; weight: number } | null;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  at: string | null;
  steps: CutoverStep[];
  readings: Reading[];
  preflight: PreflightReport | null;
  /** The write that put the original routes back (rollback or abort), with its acks; null otherwise. */
  restore?: CutoverStep | null;
}

/** The body of POST /v1/cutovers. */
export interface CutoverRequest {
  host?: string;
  hosts?: string[];
  to: Upstream;
  from?: Upstream;
  strategy?: "instant" | { canary: { steps: number[]; interval: string } };
  preflight?: boolean | { path?: string; timeout?: string };
  ackTimeout?: string;
  bake?: string;
  rollback?: { maxErrorRate?: number; minRequests?: number };
  at?: string;
}

/** One record of GET /v1/audit (newest first). */
export interface AuditRecord {
  revision: number;
  at: number | string;
  actor: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  /** Why the revision was written, such as "rollback to 12". */
  note?: string;
}

/** One entity that differs; `path` is a JSON Pointer (`/defaultUpstream`, `/pools/<name>`, `/routes/<host>`); null = absent. */
export interface DiffEntry {
  path: string;
  before: unknown;
  after: unknown;
}

/** Any write with `?dryRun=true`: nothing was written. */
export interface DryRunResult {
  dryRun: true;
  revision: number;
  diff: DiffEntry[];
  plan?: { hosts: string[]; steps: { index: number; weight: number; routes: Record<string, Route> }[] };
}

/** PUT /v1/state and POST /v1/rollback: `changed: false` when the state already matched (nothing written). */
export interface ConvergeResult extends WriteResult {
  changed: boolean;
  diff: DiffEntry[];
  rolledBackTo?: number;
}

/** One entry of GET /v1/revisions (newest first). */
export interface RevisionSummary {
  revision: number;
  at: string;
  actor: string;
  summary: string;
  note?: string;
}

export type Op =
  | { op: "pool.put"; name: string; pool: Pool }
  | { op: "pool.del"; name: string }
  | { op: "route.put"; host: string; route: Route }
  | { op: "route.del"; host: string }
  | { op: "default.put"; upstream: Upstream | null };

/** GET /v1/revisions/:rev: the change's ops, and the value each replaced when the log kept it. */
export interface RevisionDetail extends RevisionSummary {
  ops: Op[];
  before?: unknown[];
}
