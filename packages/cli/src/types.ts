/** Shapes of the controller's answers, as far as the CLI reads them. */

export type Upstream = string | { split: Record<string, number> };

export interface Route {
  upstream?: Upstream;
  rules?: { path: string; upstream: Upstream }[];
}

export interface Pool {
  targets: { address: string; weight?: number }[];
  keepalive?: number;
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
}
