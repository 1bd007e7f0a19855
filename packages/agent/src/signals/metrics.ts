import { AggregatorRegistry, Gauge, Registry, collectDefaultMetrics, type Metric } from "prom-client";

/**
 * The agent's Prometheus metrics (`GET /metrics` on the admin listener, admin.ts).
 *
 * Requests are counted into plain typed arrays on the request path (one Map read by upstream label,
 * a few array increments, no allocation) and turned into Prometheus series only at scrape time:
 * prom-client's own Counter and Histogram hash a label object on every call, which the serve path
 * cannot afford per request. Labels are bounded: `upstream` is the route's upstream label (pool
 * name, address or split, from the configuration, never from the request), at most MAX_UPSTREAMS
 * of them (later ones count under "_other"), `code` a status 100-599. No host label.
 *
 * A multi-process agent: each worker keeps its own registry and answers its primary's scrape
 * (answerPrimaryScrapes); the primary sums them (clusterScrape) with each metric's aggregator:
 * counters, histograms and process metrics add up, the revision and Redis gauges take the minimum
 * (the agent has applied what every worker applied; it is up when every worker is).
 */

/** Histogram upper bounds, seconds. */
export const DURATION_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const MAX_UPSTREAMS = 500;
const OTHER = "_other";
const CODES = 600;

/** One upstream label's counts: per status code, and per duration bucket (not cumulative; the last one is +Inf). */
class Tally {
  readonly codes = new Float64Array(CODES);
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
}

/** One pool target's health as the pools see it: the gauge's value is 1 when up, 0 when down. */
export interface UpstreamHealthSample {
  pool: string;
  target: string;
  up: boolean;
}

export interface AgentMetricsSources {
  /** The revision of the table this process serves (0 before the first). */
  revision(): number;
  /** Whether the sync link to Redis is up. */
  redisUp(): boolean;
  /** Per-target health of the pools; nothing until pools have health checks. */
  health?: () => Iterable<UpstreamHealthSample>;
}

/** A metric computed at scrape time, in the shape prom-client's registry and aggregator read. */
interface ScrapedMetric {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName?: string }[] };
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly tallies = new Map<string, Tally>();

  constructor(sources: AgentMetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "switchyard_agent_revision", help: "Revision of the route table this agent serves (0 before the first).",
      registers, aggregator: "min", collect() { this.set(sources.revision()); },
    });
    new Gauge({
      name: "switchyard_agent_redis_up", help: "1 while the agent's sync link to Redis is up, else 0.",
      registers, aggregator: "min", collect() { this.set(sources.redisUp() ? 1 : 0); },
    });
    new Gauge({
      name: "switchyard_agent_upstream_health", help: "Per pool target: 1 healthy; 0 unhealthy, ejected, draining or slow_start (the heartbeat carries which).",
      labelNames: ["pool", "target"], registers, aggregator: "min",
      collect() {
        this.reset();
        for (const s of sources.health?.() ?? []) this.set({ pool: s.pool, target: s.target }, s.up ? 1 : 0);
      },
    });
    this.register({ name: "switchyard_agent_requests_total", help: "Requests by upstream label and the status the client got (499: the client left first; upstream \"-\": answered by the edge itself).", type: "counter", aggregator: "sum", get: () => this.requestsValues() });
    this.register({ name: "switchyard_agent_request_duration_seconds", help: "Request duration, head read to response end, by upstream label.", type: "histogram", aggregator: "sum", get: () => this.durationValues() });
  }

  /** The request path's one call: counts a finished request. No allocation once the label is known. */
  record(upstream: string, status: number, seconds: number): void {
    const t = this.tallies.get(upstream) ?? this.add(upstream);
    t.codes[status >= 0 && status < CODES ? status : 0]! += 1;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    t.buckets[i]! += 1;
    t.sum += seconds;
  }

  private add(upstream: string): Tally {
    if (this.tallies.size >= MAX_UPSTREAMS) return this.tallies.get(OTHER) ?? this.tallies.set(OTHER, new Tally()).get(OTHER)!;
    const t = new Tally();
    this.tallies.set(upstream, t);
    return t;
  }

  private register(m: Omit<ScrapedMetric, "get"> & { get: () => ReturnType<ScrapedMetric["get"]>["values"] }): void {
    const metric: ScrapedMetric = { ...m, get: () => ({ name: m.name, help: m.help, type: m.type, aggregator: m.aggregator, values: m.get() }) };
    this.registry.registerMetric(metric as unknown as Metric);
  }

  private requestsValues() {
    const values: ReturnType<ScrapedMetric["get"]>["values"] = [];
    for (const [upstream, t] of this.tallies) {
      for (let code = 0; code < CODES; code++) {
        const n = t.codes[code]!;
        if (n > 0) values.push({ labels: { upstream, code }, value: n });
      }
    }
    return values;
  }

  private durationValues() {
    const name = "switchyard_agent_request_duration_seconds";
    const values: ReturnType<ScrapedMetric["get"]>["values"] = [];
    for (const [upstream, t] of this.tallies) {
      let cumulative = 0;
      for (let i = 0; i <= DURATION_BUCKETS.length; i++) {
        cumulative += t.buckets[i]!;
        values.push({ labels: { le: i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i]! : "+Inf", upstream }, value: cumulative, metricName: `${name}_bucket` });
      }
      values.push({ labels: { upstream }, value: t.sum, metricName: `${name}_sum` });
      values.push({ labels: { upstream }, value: cumulative, metricName: `${name}_count` });
    }
    return values;
  }
}

/** A cluster worker: answer the primary's scrapes with this registry (prom-client's cluster messages). */
export function answerPrimaryScrapes(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // its constructor installs the worker's message listener
}

/** The primary of a multi-process agent: every worker's metrics, aggregated (see above). */
export function clusterScrape(): () => Promise<{ contentType: string; body: string }> {
  const aggregator = new AggregatorRegistry();
  return async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
}

/** A single-process agent: its own registry. */
export function registryScrape(registry: Registry): () => Promise<{ contentType: string; body: string }> {
  return async () => ({ contentType: registry.contentType, body: await registry.metrics() });
}
