import { Router, type Request, type Response } from "express";
import type { Queue } from "bullmq";
import { copyDict, diffStates, parseOrThrow, type Route, type Snapshot, type State, type StoreReader } from "@switchyard/shared";
import { CutoverLocked, type CutoverRepo } from "../cutover/repo.js";
import { planCutover } from "../cutover/plan.js";
import { enqueueCutover, type CutoverJob } from "../cutover/queue.js";
import { upstreamAt } from "../cutover/runner.js";
import type { ControllerMetrics } from "../metrics.js";
import { CutoverRequest, isTerminal, view, type CutoverRecord } from "../cutover/spec.js";
import { requireWrite } from "./auth.js";
import { answerDryRun, dryRunRequested } from "./dry-run.js";
import { jsonBody, requireJson } from "./config-api.js";
import { ApiError, methodNotAllowed, notFound } from "./errors.js";
import { accepts } from "./query.js";

export interface CutoversApiDeps {
  reader: StoreReader;
  repo: CutoverRepo;
  queue: Queue<CutoverJob>;
  metrics: ControllerMetrics;
}

/** The state with `hosts` given these routes (null: deleted): what a cutover step, its end or its restore writes. */
function withRoutes(s: State, routes: Iterable<[string, Route | null]>): State {
  const next = copyDict(s.routes);
  for (const [host, route] of routes) {
    if (route === null) delete next[host];
    else next[host] = route;
  }
  return { ...s, routes: next };
}

/**
 * A cutover's dry run: the plan and the checks only. `diff` is the change once the cutover
 * succeeds; `steps` are the routes each step writes.
 */
function planView(rec: CutoverRecord, snap: Snapshot) {
  return {
    diff: diffStates(snap.state, withRoutes(snap.state, rec.hosts.map((h) => [h, { upstream: rec.to }]))),
    plan: {
      hosts: rec.hosts,
      strategy: rec.strategy,
      steps: rec.weights.map((weight, i) => ({ index: i + 1, weight, routes: Object.fromEntries(rec.hosts.map((h) => [h, { upstream: upstreamAt(rec, h, weight) }])) })),
      preflight: rec.preflight,
      at: rec.at,
    },
  };
}

const SSE_POLL_MS = 250;
const SSE_KEEPALIVE_MS = 15_000;

async function load(repo: CutoverRepo, id: string): Promise<CutoverRecord> {
  const rec = /^co-[0-9a-f]{12}$/.test(id) ? await repo.get(id) : undefined;
  if (!rec) throw notFound(`cutover '${id}'`);
  return rec;
}

/** Streams the cutover as Server-Sent Events until it is terminal or the client leaves. */
async function events(repo: CutoverRepo, req: Request, res: Response): Promise<void> {
  let rec = await load(repo, String(req.params.id));
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
  let closed = false;
  req.on("close", () => (closed = true));
  const send = (r: CutoverRecord) => res.write(`event: progress\ndata: ${JSON.stringify(view(r))}\n\n`);
  send(rec);
  let last = await repo.lastEventId(rec.id);
  let quietSince = Date.now();
  while (!closed && !isTerminal(rec.state)) {
    await new Promise((r) => setTimeout(r, SSE_POLL_MS));
    const id = await repo.lastEventId(rec.id).catch(() => last);
    if (id !== last) {
      last = id;
      rec = (await repo.get(rec.id)) ?? rec;
      send(rec);
      quietSince = Date.now();
    } else if (Date.now() - quietSince > SSE_KEEPALIVE_MS) {
      res.write(": keepalive\n\n");
      quietSince = Date.now();
    }
  }
  res.end();
}

/** Blue/green and canary cutovers: validated and recorded here, run by the BullMQ worker. */
export function cutoversApi({ reader, repo, queue, metrics }: CutoversApiDeps): Router {
  const r = Router();

  r.route("/v1/cutovers")
    .get(accepts(), async (_req, res) => {
      res.json((await repo.list()).map(view));
    })
    .post(accepts("dryRun"), requireWrite, requireJson, jsonBody, async (req, res) => {
      const dry = dryRunRequested(req);
      const body = parseOrThrow(CutoverRequest, req.body);
      const now = Date.now();
      const snap = await reader.snapshot();
      const rec = planCutover(body, snap, req.principal?.name ?? "unknown", now);
      if (dry) {
        const holders = await repo.lockHolders(rec.hosts);
        const held = holders.findIndex((id) => id !== null);
        if (held !== -1) throw new ApiError(409, "conflict", new CutoverLocked(rec.hosts[held] as string, holders[held] as string).message, "host");
        const { diff, plan } = planView(rec, snap);
        return answerDryRun(res, metrics, snap.revision, diff, { plan });
      }
      try {
        await repo.create(rec);
      } catch (err) {
        if (err instanceof CutoverLocked) throw new ApiError(409, "conflict", err.message, "host");
        throw err;
      }
      try {
        await enqueueCutover(queue, rec.id, rec.at === null ? 0 : Date.parse(rec.at) - now);
      } catch (err) {
        await repo.save({ ...rec, state: "failed", reason: "could not be queued; nothing was switched" });
        throw err;
      }
      res.status(202).json({ id: rec.id });
    })
    .all(methodNotAllowed(["GET", "POST"]));

  r.route("/v1/cutovers/:id").get(accepts(), async (req, res) => {
    res.json(view(await load(repo, String(req.params.id))));
  }).all(methodNotAllowed(["GET"]));

  r.route("/v1/cutovers/:id/events").get(accepts(), (req, res) => events(repo, req, res)).all(methodNotAllowed(["GET"]));

  for (const action of ["abort", "promote"] as const) {
    r.route(`/v1/cutovers/:id/${action}`)
      .post(accepts("dryRun"), requireWrite, async (req, res) => {
        const dry = dryRunRequested(req);
        const rec = await load(repo, String(req.params.id));
        if (isTerminal(rec.state)) throw new ApiError(409, "conflict", `cutover ${rec.id} already ${rec.state}`);
        if (dry) {
          // Abort puts the original routes back (nothing, if nothing was switched yet); promote goes to 100%.
          const snap = await reader.snapshot();
          const switched = rec.steps.some((st) => st.revision !== null);
          const routes: [string, Route | null][] = rec.hosts.map((h) => [h, action === "abort" ? rec.original[h] ?? null : { upstream: rec.to }]);
          const after = action === "abort" && !switched ? snap.state : withRoutes(snap.state, routes);
          return answerDryRun(res, metrics, snap.revision, diffStates(snap.state, after), { id: rec.id, state: rec.state });
        }
        await repo.control(rec.id, action);
        // A scheduled cutover has no running worker to notice: take its job out and end it here.
        if (action === "abort" && rec.state === "scheduled") {
          const job = await queue.getJob(rec.id);
          if (job && (await job.isDelayed())) {
            await job.remove();
            await repo.save({ ...rec, state: "aborted", reason: "aborted before its scheduled time; nothing was switched" });
            res.status(202).json({ id: rec.id, state: "aborted" });
            return;
          }
        }
        // An abort must still restore even if the cutover's job is gone (retries used up, or removed):
        // run it again; the runner sees the abort flag and puts the original routes back.
        if (action === "abort") {
          const job = await queue.getJob(rec.id);
          const state = job ? await job.getState() : "missing";
          if (state === "failed" || state === "completed" || state === "missing" || state === "unknown") {
            await job?.remove().catch(() => undefined);
            await enqueueCutover(queue, rec.id, 0);
          }
        }
        res.status(202).json({ id: rec.id, state: rec.state });
      })
      .all(methodNotAllowed(["POST"]));
  }
  return r;
}
