import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { WriteRefused, dict, type Keys, type Op, type StoreReader, type StoreWriter, type Upstream } from "@switchyard/shared";
import type { AckWatcher } from "../fleet/acks.js";
import { FenceBroken, fencedWrite } from "./fence.js";
import type { CutoverRepo } from "./repo.js";
import { preflight, readRouteTraffic, targetsOf } from "./signals.js";
import { isTerminal, type CutoverRecord, type CutoverState, type StepRecord } from "./spec.js";

export interface RunnerDeps {
  repo: CutoverRepo;
  reader: StoreReader;
  writer: StoreWriter;
  redis: Redis;
  keys: Keys;
  acks: AckWatcher;
  log: Logger;
  workerId: string;
  /** How often traffic counters are read and controls checked while watching. */
  sampleMs: number;
}

/** Ends the run in a terminal state after putting the original routes back. */
class Revert extends Error {
  constructor(
    readonly state: "rolled_back" | "aborted" | "failed",
    message: string,
  ) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => new Date().toISOString();

/** The upstream a host gets at `weight` percent: the target itself at 100, else a split with where it came from. */
export function upstreamAt(rec: Pick<CutoverRecord, "to" | "from">, host: string, weight: number): Upstream {
  if (weight >= 100) return rec.to;
  return { split: dict([[rec.from[host] as string, 100 - weight], [rec.to as string, weight]]) };
}

/**
 * Runs (or resumes) one cutover to a terminal state. Every decision is persisted before it is
 * acted on, so a run that dies anywhere is resumed by the next one from the record: a step whose
 * write was recorded is not written again, and one whose write was not recorded is found in the
 * change log by its actor (see fencedWrite). Jobs are at-least-once; the fence makes them safe.
 */
export async function runCutover(id: string, deps: RunnerDeps): Promise<CutoverState | undefined> {
  const rec = await deps.repo.get(id);
  if (!rec) return undefined;
  if (isTerminal(rec.state)) {
    await deps.repo.release(rec);
    return rec.state;
  }
  rec.worker = deps.workerId;
  const log = deps.log.child({ cutover: id });
  const save = () => deps.repo.save(rec);
  const finish = async (state: CutoverState, reason: string) => {
    rec.state = state;
    rec.reason = reason;
    await save();
    log.info({ state, reason }, "cutover finished");
    return state;
  };

  try {
    if (rec.reverting) throw new Revert(rec.reverting.state, rec.reverting.reason);
    if (rec.state === "scheduled" || rec.state === "preflight") {
      if ((await deps.repo.controls(id)).abort) return finish("aborted", "aborted before any switch");
      if (rec.preflight) {
        rec.state = "preflight";
        await save();
        const snap = await deps.reader.snapshot();
        const targets = targetsOf(rec.to, snap.state);
        rec.preflightResult = await preflight(deps.redis, deps.keys, targets, rec.preflight.path, rec.preflight.timeoutMs, rec.preflight.expectStatus);
        if (!rec.preflightResult.ok) {
          const bad = Object.entries(rec.preflightResult.targets).filter(([, t]) => !t.ok).map(([a]) => a);
          const why = rec.preflightResult.missingAgents.length
            ? `agents did not report: ${rec.preflightResult.missingAgents.join(", ")}`
            : bad.length
              ? `unhealthy from the edges: ${bad.join(", ")}`
              : "no live agents to probe from";
          return finish("failed", `preflight failed (${why}); traffic was not moved`);
        }
      }
      rec.state = "switching";
      await save();
    }

    const n = rec.weights.length;
    let promoted = false;
    for (let k = rec.steps.filter((s) => s.completedAt !== null).length; k < n; k++) {
      const controls = await deps.repo.controls(id);
      if (controls.abort) throw new Revert("aborted", "aborted by an operator");
      promoted ||= controls.promote;
      // Promote skips the canary steps not yet written and the bake: straight to 100%. Skipped
      // steps are recorded as such, so the steps array never has holes.
      if (promoted && rec.steps[k]?.revision == null) {
        for (; k < n - 1; k++) {
          rec.steps[k] = { index: k + 1, weight: rec.weights[k] as number, revision: null, writtenAt: null, acks: [], stragglers: [], completedAt: now(), skipped: true };
        }
      }
      const weight = rec.weights[k] as number;
      const step: StepRecord = (rec.steps[k] ??= { index: k + 1, weight, revision: null, writtenAt: null, acks: [], stragglers: [], completedAt: null });
      rec.step = { index: k + 1, total: n, weight };
      const pending = await deps.acks.begin();
      if (step.revision === null) {
        rec.state = "switching";
        await save();
        const ops: Op[] = rec.hosts.map((host) => ({ op: "route.put", host, route: { upstream: upstreamAt(rec, host, weight) } }));
        const written = await fencedWrite(deps, ops, `cutover:${id}/step-${k + 1}`, rec.hosts, rec.lastRevision).catch((err: unknown) => {
          pending.cancel();
          throw err;
        });
        Object.assign(step, { revision: written.revision, writtenAt: now() });
        rec.lastRevision = written.revision;
        if (written.adopted) log.warn({ step: k + 1, revision: written.revision }, "step was already applied by an earlier run; adopted it");
      }
      rec.state = "waiting_acks";
      await save();
      const acked = await pending.wait(step.revision as number, rec.ackTimeoutMs);
      step.acks = acked.applied;
      step.stragglers = acked.missing;
      await save();
      if (acked.missing.length) log.warn({ step: k + 1, stragglers: acked.missing }, "agents did not ack in time");

      if (!promoted) promoted = await watch(rec, k, k === n - 1 ? rec.bakeMs : rec.intervalMs, k < n - 1, deps, save);
      step.completedAt = now();
      await save();
    }
    return finish("succeeded", `every step applied; ${rec.hosts.join(", ")} now on ${JSON.stringify(rec.to)}`);
  } catch (err) {
    if (err instanceof FenceBroken) return finish("failed", err.message);
    if (err instanceof Revert) return revert(rec, err, deps, save, finish);
    // A refusal other than a moved revision is permanent (say the target pool was deleted): retrying cannot help.
    if (err instanceof WriteRefused) return finish("failed", `the store refused a step: ${err.refusal.code}${"pool" in err.refusal ? ` (${err.refusal.pool})` : ""}; nothing more was written`);
    throw err;
  }
}

/**
 * For the worker's `exhausted` hook: the job will not run again (its retries are used up), so the
 * record must not stay active holding its host locks. Routes are left as they are.
 */
export function giveUpCutover(repo: CutoverRepo): (id: string, err: Error) => Promise<void> {
  return async (id, err) => {
    const rec = await repo.get(id);
    if (rec && !isTerminal(rec.state)) await repo.save({ ...rec, state: "failed", reason: `the cutover job gave up after repeated errors (${err.message}); routes were left as they are` });
  };
}

/**
 * Watches the new upstream's error rate at the edges for `durationMs`, counting only the switched
 * hosts' requests to it; throws Revert to roll back. A canary step (`evidence`) moves on only once
 * the agents have seen rollback.minRequests of those requests: it holds past `durationMs` for up
 * to rollback.maxWait, then the cutover fails inconclusive and the original routes come back.
 * Returns true when an operator promoted the cutover meanwhile.
 */
async function watch(rec: CutoverRecord, k: number, durationMs: number, evidence: boolean, deps: RunnerDeps, save: () => Promise<void>): Promise<boolean> {
  if (durationMs <= 0 && !evidence) return false;
  rec.state = "baking";
  if (rec.window?.step !== k) {
    const base = await readRouteTraffic(deps.redis, deps.keys, rec.hosts, rec.to);
    rec.window = { step: k, startedAt: Date.now(), baseRequests: base.requests, baseErrors: base.errors };
  }
  await save();
  const w = rec.window as NonNullable<CutoverRecord["window"]>;
  const { maxErrorRate, minRequests } = rec.rollback;
  const maxWaitMs = Math.max(durationMs, rec.rollback.maxWaitMs ?? 10 * rec.intervalMs);
  let requests = 0;
  while (Date.now() < w.startedAt + durationMs || (evidence && requests < minRequests)) {
    if (evidence && requests < minRequests && Date.now() >= w.startedAt + maxWaitMs) {
      throw new Revert("failed", `inconclusive: ${requests} of ${minRequests} requests for ${rec.hosts.join(", ")} reached the new upstream at step ${k + 1} within ${maxWaitMs} ms`);
    }
    const end = Date.now() < w.startedAt + durationMs ? w.startedAt + durationMs : w.startedAt + maxWaitMs;
    await sleep(Math.min(deps.sampleMs, Math.max(0, end - Date.now())));
    const controls = await deps.repo.controls(rec.id);
    if (controls.abort) throw new Revert("aborted", "aborted by an operator");
    const t = await readRouteTraffic(deps.redis, deps.keys, rec.hosts, rec.to);
    requests = t.requests - w.baseRequests;
    const errors = t.errors - w.baseErrors;
    const errorRate = requests > 0 ? errors / requests : 0;
    rec.readings.push({ at: now(), requests, errors, errorRate: Number(errorRate.toFixed(4)) });
    await save();
    if (requests >= minRequests && errorRate > maxErrorRate) {
      throw new Revert("rolled_back", `error rate ${(errorRate * 100).toFixed(1)}% (${errors}/${requests}) at step ${k + 1} exceeded ${(maxErrorRate * 100).toFixed(1)}%`);
    }
    if (controls.promote) return true;
  }
  return false;
}

/**
 * Puts the original routes back (fenced: a concurrent manual write is never overwritten). The
 * decision is saved before anything is written, so a run that dies here resumes into the restore.
 * Whether anything was switched is read from the store, not from the record: a step written by a
 * run that died before recording it must be undone too.
 */
async function revert(
  rec: CutoverRecord,
  why: Revert,
  deps: RunnerDeps,
  save: () => Promise<void>,
  finish: (s: CutoverState, reason: string) => Promise<CutoverState>,
): Promise<CutoverState> {
  rec.reverting ??= { state: why.state, reason: why.message };
  await save();
  const ops: Op[] = rec.hosts.map((host) => {
    const route = rec.original[host];
    return route ? { op: "route.put", host, route } : { op: "route.del", host };
  });
  const restore: StepRecord = (rec.restore ??= { index: 0, weight: 0, revision: null, writtenAt: null, acks: [], stragglers: [], completedAt: null });
  if (restore.revision === null) {
    const current = await deps.reader.snapshot();
    const untouched = rec.hosts.every((h) => JSON.stringify(current.state.routes[h] ?? null) === JSON.stringify(rec.original[h] ?? null));
    if (untouched) return finish(why.state, `${why.message}; nothing had been switched`);
  }
  const pending = await deps.acks.begin();
  try {
    if (restore.revision === null) {
      const { revision } = await fencedWrite(deps, ops, `cutover:${rec.id}/restore`, rec.hosts, rec.lastRevision);
      Object.assign(restore, { revision, writtenAt: now() });
      rec.lastRevision = revision;
      await save();
    }
    const acked = await pending.wait(restore.revision as number, rec.ackTimeoutMs);
    restore.acks = acked.applied;
    restore.stragglers = acked.missing;
    restore.completedAt = now();
  } catch (err) {
    pending.cancel();
    if (err instanceof FenceBroken) return finish("failed", `${why.message}; could not restore: ${err.message}`);
    throw err;
  }
  return finish(why.state, `${why.message}; original upstream restored`);
}
