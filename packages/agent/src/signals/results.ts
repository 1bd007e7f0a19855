import type { Logger } from "pino";
import type { PassRequest, ResultReporter } from "../serve/passes.js";
import type { AgentMetrics } from "./metrics.js";

/**
 * What each finished request feeds, composed once at start-up into the proxy's one onResult hook:
 * the traffic counters (always), the metrics (AGENT_METRICS, on by default) and the access log
 * (AGENT_ACCESS_LOG=on). Whatever is off is not in the composed function at all, so the request
 * path pays nothing for it.
 */
export interface ResultSinks {
  /** Per upstream and per route host (canaries): TrafficCounters.record. */
  counters: (upstream: string, status: number, route: string) => void;
  metrics?: AgentMetrics | undefined;
  /** The access log's logger (always at info, whatever LOG_LEVEL says); absent when the log is off. */
  access?: Logger | undefined;
}

/** One access log line's fields (README "Access log"). */
export function accessLine(upstream: string, status: number, r: PassRequest, ms: number) {
  return {
    host: r.host ?? null,
    method: r.method,
    path: r.path,
    status,
    upstream,
    target: r.target?.address.key ?? null,
    duration_ms: Math.round(ms * 1000) / 1000,
    revision: r.revision,
    request_id: r.requestId,
  };
}

export function resultReporter(sinks: ResultSinks): ResultReporter {
  const { counters, metrics, access } = sinks;
  if (metrics === undefined && access === undefined) return (upstream, status, r) => counters(upstream, status, r.route);
  return (upstream, status, r) => {
    counters(upstream, status, r.route);
    const ms = performance.now() - r.start;
    metrics?.record(upstream, status, ms / 1000);
    access?.info(accessLine(upstream, status, r, ms), "request");
  };
}
