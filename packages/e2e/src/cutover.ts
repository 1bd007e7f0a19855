import { waitFor } from "@switchyard/testkit";
import type { Fleet } from "./fleet.js";

export interface CutoverView {
  id: string;
  state: string;
  reason: string | null;
  step: { index: number; total: number; weight: number } | null;
  steps: { index: number; weight: number; revision: number | null; writtenAt: string | null; acks: { id: string; appliedAt: string }[]; stragglers: string[]; completedAt: string | null }[];
  restore: { revision: number | null; writtenAt: string | null; acks: { id: string; appliedAt: string }[] } | null;
  readings: { at: string; requests: number; errors: number; errorRate: number }[];
  preflight: { ok: boolean; targets: Record<string, { ok: boolean }> } | null;
  updatedAt: string;
}

export const TERMINAL = ["succeeded", "rolled_back", "failed", "aborted"];

export async function startCutover(fleet: Fleet, body: unknown): Promise<string> {
  const res = await fleet.api("POST", "/v1/cutovers", body);
  if (res.status !== 202) throw new Error(`cutover refused: ${res.status} ${res.text}`);
  return res.body.id as string;
}

export async function cutover(fleet: Fleet, id: string): Promise<CutoverView> {
  return (await fleet.api("GET", `/v1/cutovers/${id}`)).body as CutoverView;
}

/** Polls the cutover until `check` holds; returns the view that satisfied it. */
export function untilCutover(fleet: Fleet, id: string, check: (c: CutoverView) => boolean, what: string, timeoutMs = 30_000): Promise<CutoverView> {
  return waitFor(async () => {
    const c = await cutover(fleet, id);
    return check(c) ? c : undefined;
  }, { timeoutMs, intervalMs: 50, what: `cutover ${id}: ${what}` });
}

export const finished = (fleet: Fleet, id: string, timeoutMs = 30_000) => untilCutover(fleet, id, (c) => TERMINAL.includes(c.state), "a terminal state", timeoutMs);
