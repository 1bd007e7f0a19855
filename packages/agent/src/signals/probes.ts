import { request, type ClientRequest, type RequestOptions } from "node:http";
import { performance } from "node:perf_hooks";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { ProbeRequest, dict, parseAddress, type Keys, type ProbeReport, type ProbeResult as ProbeResultSchema } from "@switchyard/shared";
import type { z } from "zod";

export type ProbeResult = z.infer<typeof ProbeResultSchema>;

export interface ProbeResponderOptions {
  /** The command connection the report is written on. */
  redis: Redis;
  keys: Keys;
  agentId: string;
  log: Logger;
  /** Probes in flight at once, across all requests. */
  concurrency?: number;
  /** The results hash expires this long after this agent's report. */
  resultTtlMs?: number;
}

export const PROBE_CONCURRENCY = 16;
export const PROBE_RESULT_TTL_MS = 60_000;
const MAX_ERROR = 500;

const clip = (s: string) => (s.length > MAX_ERROR ? `${s.slice(0, MAX_ERROR - 1)}…` : s);
const elapsed = (since: number) => Math.round((performance.now() - since) * 10) / 10;

/**
 * Answers preflight probes: for each ProbeRequest on `keys.probes`, GETs `path` on every target
 * (at most `concurrency` at once, each on a fresh connection so a pooled socket can never vouch for
 * a dead target), then in one MULTI stores this agent's ProbeReport in `keys.probeResults(id)`,
 * sets the hash's TTL and PUBLISHes the id on `keys.probeDone`.
 *
 * handle() returns at once and nothing it starts can throw: a bad request is logged and ignored,
 * a failed probe is a result, a failed write is logged.
 */
export class ProbeResponder {
  private readonly concurrency: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inProgress = new Set<string>();
  private readonly requests = new Set<ClientRequest>();
  private closed = false;

  constructor(private readonly opts: ProbeResponderOptions) {
    this.concurrency = Math.max(1, opts.concurrency ?? PROBE_CONCURRENCY);
  }

  /** The link's 'probe' event: one raw message from `keys.probes`. */
  handle(raw: string): void {
    try {
      this.accept(raw);
    } catch (err) {
      this.opts.log.error({ err }, "probe request handling threw");
    }
  }

  private accept(raw: string): void {
    if (this.closed) return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      this.opts.log.warn({ raw: raw.slice(0, 200) }, "ignored a probe request that is not JSON");
      return;
    }
    const parsed = ProbeRequest.safeParse(json);
    if (!parsed.success) {
      const problem = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
      this.opts.log.warn({ problem: clip(problem) }, "ignored an invalid probe request");
      return;
    }
    const req = parsed.data;
    if (this.inProgress.has(req.id)) {
      this.opts.log.debug({ probe: req.id }, "probe already under way; duplicate ignored");
      return;
    }
    this.inProgress.add(req.id);
    this.run(req)
      .catch((err: unknown) => this.opts.log.error({ err, probe: req.id }, "probe failed"))
      .finally(() => this.inProgress.delete(req.id));
  }

  private async run(req: ProbeRequest): Promise<void> {
    const { log } = this.opts;
    const targets = [...new Set(req.targets)];
    const started = Date.now();
    const outcomes = await Promise.all(targets.map((t) => this.slot(() => this.probe(t, req.path, req.timeoutMs))));
    if (this.closed) return;
    // Keyed by target address (user data): no prototype to collide with.
    const results = dict(targets.map((t, i) => [t, outcomes[i] as ProbeResult] as const));
    const report: ProbeReport = { agent: this.opts.agentId, at: Date.now(), results };
    const { redis, keys } = this.opts;
    const key = keys.probeResults(req.id);
    try {
      const replies = await redis
        .multi()
        .hset(key, this.opts.agentId, JSON.stringify(report))
        .pexpire(key, this.opts.resultTtlMs ?? PROBE_RESULT_TTL_MS)
        .publish(keys.probeDone, req.id)
        .exec();
      const failed = replies?.find(([err]) => err)?.[0];
      if (!replies || failed) throw failed ?? new Error("transaction aborted");
    } catch (err) {
      log.warn({ probe: req.id, err: (err as Error).message }, "probe report not written");
      return;
    }
    const healthy = outcomes.filter((r) => r?.ok).length;
    log.info({ probe: req.id, targets: targets.length, healthy, ms: Date.now() - started }, "probe answered");
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await fn();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }

  /** One GET; always resolves, never rejects. */
  private probe(target: string, path: string, timeoutMs: number): Promise<ProbeResult> {
    if (this.closed) return Promise.resolve({ ok: false, error: "agent stopping", ms: 0 });
    const parsed = parseAddress(target);
    if (!parsed.ok) return Promise.resolve({ ok: false, error: clip(`invalid target: ${parsed.message}`), ms: 0 });
    const a = parsed.address;
    const where: RequestOptions = a.kind === "unix" ? { socketPath: a.path } : { host: a.host, port: a.port };
    const since = performance.now();
    return new Promise<ProbeResult>((resolve) => {
      let req: ClientRequest | undefined;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (r: Omit<ProbeResult, "ms">) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (req) {
          this.requests.delete(req);
          req.destroy();
        }
        resolve({ ...r, ms: elapsed(since) });
      };
      try {
        req = request({
          ...where,
          method: "GET",
          path,
          // A fresh connection per probe: a kept-alive socket could hide a target that just died.
          agent: false,
          headers: { host: a.kind === "unix" ? "localhost" : target, "user-agent": "switchyard-agent-probe", accept: "*/*", connection: "close" },
        });
      } catch (err) {
        finish({ ok: false, error: clip((err as Error).message) });
        return;
      }
      this.requests.add(req);
      timer = setTimeout(() => finish({ ok: false, error: `no response within ${timeoutMs} ms` }), timeoutMs);
      req.on("error", (err) => finish({ ok: false, error: clip(err.message) }));
      req.on("response", (res) => {
        res.on("error", () => undefined);
        res.resume();
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 400;
        finish(ok ? { ok, status } : { ok, status, error: `unhealthy status ${status}` });
      });
      req.end();
    });
  }

  /** Aborts the probes under way; no report is written afterwards. */
  close(): void {
    this.closed = true;
    for (const req of this.requests) req.destroy();
    this.requests.clear();
  }
}
