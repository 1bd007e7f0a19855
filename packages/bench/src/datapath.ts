import { randomPrefix } from "@switchyard/testkit";
import { WRK, paced, saturate } from "./load.js";
import { QUICK, ROUNDS, cpuMicros, processTree, ratioOf, rssSampler, summarize, type Summary } from "./measure.js";
import { HAPROXY, startHaproxy } from "./haproxy.js";
import { NGINX, acceptedBy, startNginxProxy, startNginxUpstream } from "./nginx.js";
import { agentFeatures, startAgent, startServer, stopAll, type Server } from "./procs.js";
import { connectionReuse, type ReuseReport, type ReuseSubject } from "./reuse.js";
import { buildKeys, connect, writeState } from "./state.js";

/**
 * Section 1: the same request through each proxy, side by side. Variants run interleaved within
 * every round (A, B, C, A, B, C, ...), so a noisy neighbour hits all of them alike; comparisons are
 * per-round ratios, summarised over the rounds.
 */

const SAT_S = QUICK ? 2 : 5;
// The headline CPU ratios come from this section, and the machine is noisy: five interleaved
// rounds give a steadier median than the minimum of three, for about 90 s more.
const DATAPATH_ROUNDS = QUICK ? ROUNDS : 5;
const RATE = 1500;
const RATE_MS = QUICK ? 1500 : 2000;
/** Routed to the pool `app` (keepalive 64); what every run below sends. */
const HOST = "bench.local";
/** Routed to the upstream's address directly, at default settings: only the reuse runs send it. */
const DIRECT_HOST = "direct.local";
/** The agent as shipped: default engine, default options. The targets read its row by this name. */
export const AGENT = "agent";
export const NGINX_ROW = "nginx (1 worker, keepalive 64)";
export const HAPROXY_ROW = "HAProxy (1 thread, http-reuse always)";

interface Variant {
  name: string;
  /** floor: a Node http server answering by itself, what any Node proxy pays before forwarding anything. */
  kind: "direct" | "floor" | "bare" | "agent" | "nginx" | "haproxy";
  port: number;
  pid: number;
  pids: number[];
}

export interface VariantResult {
  name: string;
  kind: Variant["kind"];
  rps: Summary;
  p50: Summary;
  p99: Summary;
  cpuPerReq: Summary;
  rss: Summary;
  rateP50: Summary;
  rateP99: Summary;
  rateCpuPerReq: Summary;
  added: Summary;
  errors: number;
}

export interface DatapathReport {
  upstream: string;
  tool: string;
  nginx: boolean;
  haproxy: boolean;
  /** The agent's default engine, and the other engines measured (never undici, which is being retired). */
  engine: string;
  otherEngines: string[];
  rounds: number;
  satSeconds: number;
  rate: number;
  rateMs: number;
  variants: VariantResult[];
  ratios: { label: string; value: Summary; digits: number }[];
  /** One line per run that had errors. */
  errorNotes: string[];
  reuse: ReuseReport | undefined;
}

export async function datapath(redisUrl: string): Promise<DatapathReport> {
  const started: { stop(): Promise<void> }[] = [];
  const procs: Server[] = [];
  try {
    let upstreamPort: number;
    let upstreamDesc: string;
    let accepted: () => Promise<number>;
    let counter: string;
    if (NGINX) {
      const up = await startNginxUpstream();
      started.push(up);
      upstreamPort = up.port;
      upstreamDesc = "nginx `return 200` (1 worker, 100-byte body), a separate process";
      accepted = up.accepted;
      counter = "nginx stub_status `accepts` of the upstream";
    } else {
      const up = await startServer("upstream");
      procs.push(up);
      upstreamPort = up.port;
      upstreamDesc = "Node http server (servers.mjs, 100-byte body), a separate process";
      accepted = () => acceptedBy(up.port, (text) => text);
      counter = "the Node upstream's count of 'connection' events";
    }
    const target = `127.0.0.1:${upstreamPort}`;

    const prefix = randomPrefix("bench-dp");
    const redis = connect(redisUrl);
    await writeState(redis, buildKeys(prefix), {
      defaultUpstream: null,
      pools: { app: { targets: [{ address: target, weight: 1 }], keepalive: 64 } },
      routes: { [HOST]: { upstream: "app" }, [DIRECT_HOST]: { upstream: target } },
    });
    redis.disconnect();

    const variants: Variant[] = [{ name: "direct (no proxy)", kind: "direct", port: upstreamPort, pid: -1, pids: [] }];
    const add = (name: string, kind: Variant["kind"], port: number, pid: number) => variants.push({ name, kind, port, pid, pids: [] });
    if (NGINX) {
      const n = await startNginxProxy(target);
      started.push(n);
      add(NGINX_ROW, "nginx", n.port, n.pid);
    }
    if (HAPROXY) {
      const h = await startHaproxy(target);
      started.push(h);
      add(HAPROXY_ROW, "haproxy", h.port, h.pid);
    }
    {
      // The Node floor: the http server every Node proxy here is built on, answering by itself
      // (servers.mjs's upstream mode) under the agent's Node flags. Not a proxy; shown for scale.
      const s = await startServer("upstream", {}, { agentFlags: true });
      procs.push(s);
      add("node http server alone (answers itself, no upstream)", "floor", s.port, s.pid);
    }
    const features = agentFeatures();
    const engine = features.defaultEngine ?? "h1";
    // The undici engine is being retired (issue 11): never measured. Other engines the config still
    // offers are, beside their bare library, until they go too.
    const otherEngines = features.engines.filter((e) => e !== engine && e !== "undici");
    for (const e of [engine, ...otherEngines]) {
      const s = await startServer(`bare-${e}`, { TARGET: target, KEEPALIVE: "64" });
      procs.push(s);
      add(`bare-${e}`, "bare", s.port, s.pid);
    }
    {
      const a = await startAgent({ redisUrl, prefix, id: "dp-agent" });
      procs.push(a);
      add(AGENT, "agent", a.port, a.pid);
    }
    for (const e of otherEngines) {
      const a = await startAgent({ redisUrl, prefix, id: `dp-${e}`, engine: e });
      procs.push(a);
      add(`agent (AGENT_ENGINE=${e})`, "agent", a.port, a.pid);
    }
    if (features.fastPath) {
      // What the fast path buys: the same agent with every request through Node's HTTP server.
      const a = await startAgent({ redisUrl, prefix, id: "dp-node-path", env: { AGENT_FAST_PATH: "off" } });
      procs.push(a);
      add("agent (AGENT_FAST_PATH=off)", "agent", a.port, a.pid);
    }
    if (features.workers) {
      const a = await startAgent({ redisUrl, prefix, id: "dp-workers", workers: 2 });
      procs.push(a);
      add("agent (AGENT_WORKERS=2)", "agent", a.port, a.pid);
    }
    // Worker processes exist by now (the agent is ready only once every worker has a table).
    for (const v of variants) v.pids = v.pid > 0 ? processTree(v.pid) : [];

    const url = (v: Variant) => `http://127.0.0.1:${v.port}/`;
    // Warm-up: JIT, keep-alive pools, first-request costs; not recorded.
    for (const v of variants) await saturate({ url: url(v), seconds: 1, host: HOST });

    const raw = new Map<string, Record<string, number[]>>(variants.map((v) => [v.name, {}]));
    const notes: string[] = [];
    const rec = (v: Variant, k: string, x: number) => {
      const r = raw.get(v.name) as Record<string, number[]>;
      (r[k] ??= []).push(x);
    };
    for (let round = 0; round < DATAPATH_ROUNDS; round++) {
      for (const v of variants) {
        const cpu0 = cpuMicros(v.pids);
        const rss = rssSampler(v.pids);
        const r = await saturate({ url: url(v), seconds: SAT_S, host: HOST });
        const cpu = cpuMicros(v.pids) - cpu0;
        rec(v, "rss", rss.stop());
        rec(v, "rps", r.rps);
        rec(v, "p50", r.p50Ms);
        rec(v, "p99", r.p99Ms);
        rec(v, "cpu", v.pids.length ? cpu / r.requests : NaN);
        rec(v, "errors", r.errors);
        if (r.errors) notes.push(`${v.name}, saturation round ${round + 1}: ${r.errorDetail}`);
      }
      for (const v of variants) {
        const cpu0 = cpuMicros(v.pids);
        const r = await paced({ targets: [{ host: "127.0.0.1", port: v.port }], rate: RATE, hostHeader: () => HOST, connectionsPerTarget: 16 }, RATE_MS);
        const cpu = cpuMicros(v.pids) - cpu0;
        rec(v, "rateP50", r.p50Ms);
        rec(v, "rateP99", r.p99Ms);
        rec(v, "rateCpu", v.pids.length ? cpu / r.completed : NaN);
        rec(v, "errors", r.failed);
        if (r.failed) notes.push(`${v.name}, ${RATE} rps round ${round + 1}: ${r.failed} failed (${r.errorDetail})`);
      }
    }

    const get = (name: string, k: string) => raw.get(name)?.[k] ?? [];
    const direct = variants[0] as Variant;
    const results: VariantResult[] = variants.map((v) => ({
      name: v.name,
      kind: v.kind,
      rps: summarize(get(v.name, "rps")),
      p50: summarize(get(v.name, "p50")),
      p99: summarize(get(v.name, "p99")),
      cpuPerReq: summarize(get(v.name, "cpu")),
      rss: summarize(v.pids.length ? get(v.name, "rss") : []),
      rateP50: summarize(get(v.name, "rateP50")),
      rateP99: summarize(get(v.name, "rateP99")),
      rateCpuPerReq: summarize(get(v.name, "rateCpu")),
      added: summarize(v === direct ? [] : get(v.name, "rateP50").map((x, i) => x - (get(direct.name, "rateP50")[i] ?? NaN))),
      errors: get(v.name, "errors").reduce((a, b) => a + b, 0),
    }));

    const ratios: DatapathReport["ratios"] = [];
    const nginx = variants.find((v) => v.kind === "nginx");
    const haproxy = variants.find((v) => v.kind === "haproxy");
    const compare = (a: Variant, ref: Variant, refName: string) => {
      ratios.push({ label: `${a.name} CPU/req ÷ ${refName} CPU/req (saturation)`, value: ratioOf(get(a.name, "cpu"), get(ref.name, "cpu")), digits: 2 });
      ratios.push({ label: `${a.name} CPU/req ÷ ${refName} CPU/req (${RATE} rps)`, value: ratioOf(get(a.name, "rateCpu"), get(ref.name, "rateCpu")), digits: 2 });
      ratios.push({ label: `${a.name} rps ÷ ${refName} rps (saturation)`, value: ratioOf(get(a.name, "rps"), get(ref.name, "rps")), digits: 2 });
    };
    for (const a of variants.filter((v) => v.kind === "agent")) {
      if (nginx) compare(a, nginx, "nginx");
      if (haproxy && a.name === AGENT) compare(a, haproxy, "HAProxy");
    }
    if (nginx && haproxy) compare(haproxy, nginx, "nginx");
    const floor = variants.find((v) => v.kind === "floor");
    if (nginx && floor) {
      ratios.push({ label: `${floor.name} CPU/req ÷ nginx CPU/req (saturation)`, value: ratioOf(get(floor.name, "cpu"), get(nginx.name, "cpu")), digits: 2 });
    }
    for (const e of [engine, ...otherEngines]) {
      // Same engine, single process: what routing, header handling and counters add to the bare library.
      const agent = e === engine ? AGENT : `agent (AGENT_ENGINE=${e})`;
      const over = (k: string) => summarize(get(agent, k).map((x, i) => x / (get(`bare-${e}`, k)[i] ?? NaN) - 1));
      ratios.push({ label: `routing overhead ${e}: ${agent} ÷ bare-${e} CPU/req − 1 (saturation)`, value: over("cpu"), digits: 2 });
      ratios.push({ label: `routing overhead ${e}: ${agent} ÷ bare-${e} CPU/req − 1 (${RATE} rps)`, value: over("rateCpu"), digits: 2 });
    }

    // Connection reuse, after the rounds (its 500-connection runs would disturb them).
    const agentRow = variants.find((v) => v.name === AGENT) as Variant;
    const subjects: ReuseSubject[] = [
      { name: "agent, direct-address route (default settings)", port: agentRow.port, host: DIRECT_HOST },
      { name: "agent, pool with keepalive 64", port: agentRow.port, host: HOST },
      ...(nginx ? [{ name: NGINX_ROW, port: nginx.port, host: HOST }] : []),
      ...(haproxy ? [{ name: HAPROXY_ROW, port: haproxy.port, host: HOST }] : []),
    ];
    const reuse = await connectionReuse(subjects, accepted, counter);
    const tool = WRK ? "wrk -t2 -c50" : "autocannon -c50 (wrk not installed; autocannon reports latency in whole ms)";
    return {
      upstream: upstreamDesc, tool, nginx: !!NGINX, haproxy: !!HAPROXY, engine, otherEngines, rounds: DATAPATH_ROUNDS, satSeconds: SAT_S, rate: RATE, rateMs: RATE_MS,
      variants: results, ratios, errorNotes: notes, reuse,
    };
  } finally {
    await stopAll([...procs, ...started]);
  }
}
