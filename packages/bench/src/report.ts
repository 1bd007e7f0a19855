import type { CatchupReport } from "./catchup.js";
import { REVISION_HEADER, type CutoverReport } from "./cutover.js";
import type { IncrementalReport } from "./incremental.js";
import type { DatapathReport } from "./datapath.js";
import { fmt, fmtNum, type Summary } from "./measure.js";
import { REUSE_CONCURRENCY, type ReuseReport } from "./reuse.js";
import type { PropagationReport } from "./propagation.js";
import type { RoutingReport } from "./routing.js";

/** Renders each section's results as Markdown tables; every figure is `median [min–max]`. */

export interface Target {
  what: string;
  measured: string;
  pass: boolean | undefined;
}

export const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

const us = (s: Summary) => fmt(s, 1, " µs");
export const ms = (s: Summary, d = 2) => fmt(s, d, " ms");

export function renderDatapath(d: DatapathReport): string {
  const rows = d.variants.map((v) => [
    v.name, fmt(v.rps), ms(v.p50), ms(v.p99), v.kind === "direct" ? "—" : us(v.cpuPerReq), v.kind === "direct" ? "—" : fmt(v.rss, 1, " MB"),
    ms(v.rateP50), ms(v.rateP99), v.kind === "direct" || v.kind === "floor" ? "—" : ms(v.added, 3), v.kind === "direct" ? "—" : us(v.rateCpuPerReq), String(v.errors),
  ]);
  const missing = [d.nginx ? "" : "nginx", d.haproxy ? "" : "HAProxy"].filter(Boolean);
  return [
    `Upstream: ${d.upstream}. ${missing.length ? `**${missing.join(" and ")} not installed: ${missing.length > 1 ? "their rows" : "its row"} and the agent ÷ ${missing.join(" / ")} ratios are missing.** ` : ""}` +
      `"agent" is the agent as shipped: default engine (${d.engine}), default settings.${d.otherEngines.length ? ` Other engines its config still offers, measured beside their bare library: ${d.otherEngines.join(", ")}.` : ""} The undici engine is not measured: it is being retired (issue 11).`,
    `${d.rounds} interleaved rounds. Saturation: ${d.tool}, ${d.satSeconds} s per run, Host: bench.local. Fixed rate: paced Node client, ${d.rate} rps for ${d.rateMs / 1000} s, keep-alive.`,
    `Reference proxies: nginx with 1 worker, an upstream block with keepalive 64; HAProxy with 1 thread (nbthread 1), keep-alive to the upstream and \`http-reuse always\`.`,
    `CPU/req = (utime+stime of the proxy's process tree after − before, from /proc/<pid>/stat) ÷ completed requests; RSS = peak VmRSS summed over the tree during the saturation run.`,
    `bare-* rows: one forwarder with a static target and none of the agent's routing, header policy or counters, under the agent's Node flags: bare-h1 is the agent's own h1 engine with its fast path in front, as the agent runs it, a constant target in place of the route table; bare-http-proxy is http-proxy with a keep-alive agent. "Routing overhead" = agent ÷ bare of the same engine. "node http server alone" is Node's http server answering by itself, no upstream: the floor every proxy built on it starts from. "AGENT_FAST_PATH=off" is the agent with every request through Node's HTTP server (request and response objects).`,
    `"added p50" = proxy p50 − direct p50 at the same rate, per round. Errors = non-2xx + socket errors over all runs.`,
    `CPU is counted in clock ticks (10 ms at 100 Hz): at the fixed rate (~${fmtNum((d.rate * d.rateMs) / 1000)} requests per run) CPU/req moves in steps of ~${fmtNum(1e4 / ((d.rate * d.rateMs) / 1000), 1)} µs, so the saturation figures are the precise ones.`,
    "",
    table(["path", "rps (sat.)", "p50 (sat.)", "p99 (sat.)", "CPU/req (sat.)", "RSS (sat.)", `p50 @${d.rate}`, `p99 @${d.rate}`, "added p50", `CPU/req @${d.rate}`, "errors"], rows),
    "",
    table(["ratio (per round, then median [min–max])", "value"], d.ratios.map((r) => [r.label, fmt(r.value, r.digits)])),
    ...(d.errorNotes.length ? ["", "Runs with errors:", "", ...d.errorNotes.map((n) => `- ${n}`)] : []),
    ...(d.reuse ? ["", renderReuse(d.reuse)] : []),
  ].join("\n");
}

function renderReuse(r: ReuseReport): string {
  return [
    "### Connection reuse",
    "",
    `New upstream connections per 10,000 requests under a steady load (wrk, Host header per row), counted at the upstream (${r.counter}). ` +
      `Each run: ${r.warmSeconds} s of warm-up at the same concurrency (not counted), then ${r.runSeconds} s counted; ${r.rounds} round${r.rounds > 1 ? "s" : ""}, interleaved. ` +
      "Direct-address route: the route names the upstream's address, so the agent's default idle cap applies; the pool route has `keepalive: 64`.",
    "",
    table(["path", ...REUSE_CONCURRENCY.map((c) => `new conns / 10k req @${c} concurrent`), "requests", "errors"], r.rows.map((x) => [x.name, ...x.per10k.map((s) => fmt(s, 1)), fmtNum(x.requests), String(x.errors)])),
  ].join("\n");
}

export function renderRouting(r: RoutingReport): string {
  return [
    `Upstream: Node servers.mjs (100-byte body, separate process). Through the proxy: ${r.tool}, -t2 -c50, ${r.satSeconds} s per run, agent with the default engine; the 1-host agent gets a script with its single host.`,
    `resolve() on random hosts of a 10k table pays cache misses a 1-entry table never does; the proxy rows show what that costs per request.`,
    `State: ${fmtNum(r.hosts)} exact hosts over ${fmtNum(r.pools)} pools (host i → pool i mod ${r.pools}, every pool → the same upstream), written with StoreWriter in batches of 500 ops.`,
    `Event-loop blocks: monitorEventLoopDelay (resolution 1 ms) inside the agent process (eld-probe.mjs preloaded with --import); a reload is forced by emptying the change log and announcing a revision gap.`,

    "",
    table(["figure", "value"], [
      [`table.resolve, random host of ${fmtNum(r.hosts)} (ns/lookup)`, fmt(r.lookupBig, 1)],
      ["table.resolve, 1-host table (ns/lookup)", fmt(r.lookupOne, 1)],
      [`lookup ratio ${fmtNum(r.hosts)} ÷ 1`, fmt(r.lookupRatio, 2)],
      [`proxy rps, random Host of ${fmtNum(r.hosts)}`, fmt(r.rpsBig)],
      ["proxy rps, 1 host", fmt(r.rpsOne)],
      [`proxy CPU/req ratio ${fmtNum(r.hosts)} ÷ 1`, fmt(r.cpuRatio, 2)],
      [`proxy rps ratio ${fmtNum(r.hosts)} ÷ 1`, fmt(r.rpsRatio, 2)],
      ["snapshot load: push flow start → table installed (in-process)", ms(r.loadMs, 1)],
      ["the same for the 1-host state", ms(r.loadOneMs, 1)],
      ["agent process RSS after loading the state (fresh process, ready)", fmt(r.rssAfterLoad, 1, " MB")],
      ["the same under plain node, without the agent's flags (one process)", `${fmtNum(r.rssPlainAfterLoad, 1)} MB`],
      ["agent process RSS with the 1-host state (fresh process, ready)", fmt(r.rssOneAfterLoad, 1, " MB")],
      ["agent process RSS after the wrk runs", fmt(r.rssAfterTraffic, 1, " MB")],
      ["agent process RSS, 1-host state, after the wrk runs", fmt(r.rssOne, 1, " MB")],
      ...r.resync.flatMap((x) => [
        [`${x.label}: full snapshot reload under ${r.resyncRate} rps, trigger → ack`, ms(x.resyncMs, 1)],
        [`${x.label}: longest event-loop block in the reload window`, ms(x.block, 2)],
        [`${x.label}: longest event-loop block in an equal window without reload (control)`, ms(x.control, 2)],
      ]),
      ["requests failed during the reload rounds (both agents)", r.resyncFailed ? `${r.resyncFailed}: ${r.resyncFailedDetail}` : "0"],
    ]),
  ].join("\n");
}

export function renderPropagation(p: PropagationReport): string {
  const rows = p.rows.map((r) => [
    String(r.n), String(r.procs), String(r.writes), ms(r.p50, 1), ms(r.p99, 1), ms(r.max, 1), `${fmtNum(r.pooled.p50, 1)} / ${fmtNum(r.pooled.p99, 1)} / ${fmtNum(r.pooled.max, 1)}`,
    ms(r.skewP50, 1), ms(r.skewP99, 1), `${fmtNum(r.pooled.skewP99, 1)}`, String(r.incomplete),
  ]);
  return [
    `Agents are the agent's push flow in process (link, sync, proof: own command + subscriber connections, real Proof acks and heartbeats), ${p.layout}.`,
    `write → last ack = bench-process arrival time of the N-th ack on keys.acks (performance.now()) − time just before StoreWriter.write(). Flip skew = max − min of the acks' appliedAt (Date.now() in the agents, 1 ms resolution).`,
    `Caveat: up to 500 agents share one Node process here, so every write is parsed, applied, compiled and acked by those agents one after another on one event loop (and the two processes share 2 cores with Redis and the bench). That serial work is part of both figures at N ≥ 100; agents on their own machines would not queue behind each other.`,
    `Per-round figures are p50/p99/max within a round (${p.rounds} rounds per N, one fleet at a time); "pooled" is over all writes of that N.`,
    "",
    table(["N agents", "procs", "writes", "p50 write→last ack", "p99", "max", "pooled p50 / p99 / max (ms)", "skew p50", "skew p99", "pooled skew p99 (ms)", "writes missing acks"], rows),
  ].join("\n");
}

export function renderCutover(c: CutoverReport): string {
  return [
    `Controller + 3 agent processes (${c.engine}, AGENT_REVISION_HEADER=${REVISION_HEADER}) + blue/green sample apps (e2e startFleet). Paced load ${c.rate} rps over the 3 agents (Host demo.local) while ${c.switches} switches run as PUT /v1/routes/demo.local?wait=applied.`,
    `Proof (revision-proof.ts): every response names the revision that routed it. A request sent after the bench received a \`wait=applied\` answer listing its agent must carry that revision or a newer one; its colour must be what its revision routes to; and an agent never serves an older revision than one it already served. Only the bench's own ordering is used (answer received, then request sent), never a comparison of clocks across processes.`,
    "",
    table(["figure", "value"], [
      ["requests sent", fmtNum(c.requests)],
      ["failed requests (transport errors + non-200 + skipped)", c.failed ? `${c.failed}: ${c.failedDetail}` : "0"],
      ...(c.proof
        ? [
            ["200 responses checked against their stamped revision", fmtNum(c.proof.checked)],
            ["of those, sent after a `wait=applied` answer listing their agent", fmtNum(c.proof.afterAck)],
            ["routed by a revision older than one their agent had acked (stale)", String(c.proof.stale)],
            ["colour not what the stamped revision routes to", String(c.proof.mismatched)],
            ["without a revision stamp", String(c.proof.unstamped)],
            ["older than a revision the same agent had already served (went back)", String(c.proof.regressed)],
            ...(c.proof.examples.length ? [["examples", c.proof.examples.join("; ")]] : []),
          ]
        : [["revision proof", c.proofMissing]]),
      ["switches not complete (wait=applied answered complete=false)", String(c.incomplete)],
      ["write → wait=applied answer, p50 / p99 / max", `${fmtNum(c.answer.p50, 1)} / ${fmtNum(c.answer.p99, 1)} / ${fmtNum(c.answer.max, 1)} ms`],
      ["per-round p50 of write → answer (rounds of switches)", ms(c.answerRounds, 1)],
    ]),
  ].join("\n");
}

export function renderCatchup(c: CatchupReport): string {
  const rows = c.rows.map((r) => [r.label, ms(r.log, 1), ms(r.snapshot, 1), fmt(r.ratio, 2), r.rounds < 3 ? `${r.rounds} (indicative)` : String(r.rounds)]);
  return [
    `A SyncEngine (the agent's sync core, install = compileTableCooperative as in the agent) at revision R; ${fmtNum(c.missed)} changes (route.put) are written without it hearing them; then resync() is timed until it reports R+${c.missed}.`,
    `Log path: XRANGE of the change log, each change applied in order. Snapshot path: the same, after XTRIM of the log to 0 entries, so catch-up finds a gap and loads a snapshot.`,
    "",
    table(["state", "from the change log", "from a snapshot", "log ÷ snapshot", "rounds"], rows),
  ].join("\n");
}

export function renderTargets(targets: Target[]): string {
  return table(["target", "measured", "result"], targets.map((t) => [t.what, t.measured, t.pass === undefined ? (t.measured === "not measured" ? "not measured" : "no numeric target") : t.pass ? "PASS" : "**MISS**"]));
}

export function renderIncremental(s: IncrementalReport): string {
  return [
    `Each change is the agent's whole apply step in one process, as sync.ts runs it: the message parsed and validated, applied to the state, and installed ` +
      `(a route change is patched into the serving table; a full compile is what every change cost before issue 16). CPU is \`process.cpuUsage\` ` +
      `(user + system) around each change, so the GC work it causes counts; ${s.changes} measured changes per round after 50 warm-up ones and one full GC (the initial load's GC debt is not billed to the changes), ${s.hosts} routes.`,
    "",
    table(
      ["figure", "median [min–max] over rounds"],
      [
        ["one-route change: p99 CPU", ms(s.p99, 3)],
        ["one-route change: p50 CPU", ms(s.p50, 3)],
        ["one-route change: worst of the round", ms(s.max, 3)],
        ["full compile of the same table (before: every change)", ms(s.fullCompile, 1)],
      ],
    ),
  ].join("\n");
}
