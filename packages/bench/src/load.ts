import { execFile, execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { pct } from "./measure.js";

/**
 * Load generators. Saturation uses wrk (C, cheap per request, so more CPU is left to the process
 * being measured) or autocannon when wrk is missing. A fixed moderate rate uses a paced Node
 * client, because latency at a known rate is what "added latency" means and wrk cannot pace.
 */

// BENCH_NO_WRK=1 behaves as if wrk were not installed (to exercise the autocannon fallback).
export const WRK = process.env.BENCH_NO_WRK === "1" ? undefined : ["/usr/bin/wrk", "/usr/local/bin/wrk"].find((p) => existsSync(p));

export function toolVersions(): { wrk: string; autocannon: string } {
  let wrk = "not installed (autocannon used for saturation)";
  if (WRK) {
    try {
      execFileSync(WRK, ["-v"], { encoding: "utf8", stdio: "pipe" });
    } catch (err) {
      // wrk -v prints its version and exits 1.
      const out = String((err as { stdout?: string }).stdout ?? "");
      wrk = /wrk\s+(\S+)/.exec(out)?.[1] ?? "installed";
    }
  }
  const ac = createRequire(import.meta.url)("autocannon/package.json") as { version: string };
  return { wrk, autocannon: ac.version };
}

export interface SatResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  /** What the errors were, when there were any. */
  errorDetail: string;
}

const unitMs = (v: string, u: string) => Number(v) * (u === "us" ? 1e-3 : u === "s" ? 1e3 : u === "m" ? 60e3 : 1);

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): SatResult {
  const lat = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(out);
    return m ? unitMs(m[1] as string, m[2] as string) : NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const detail = [non2xx ? `${non2xx} non-2xx` : "", sock && errors > non2xx ? `socket errors ${sock[0].slice(15)}` : ""].filter(Boolean).join(", ");
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), p50Ms: lat("50"), p99Ms: lat("99"), requests, errors, errorDetail: detail };
}

/** A wrk Lua script that sends each request with a Host header drawn at random from `hosts`. */
export function randomHostScript(hosts: readonly string[]): string {
  const file = join(tmpdir(), `switchyard-bench-hosts-${process.pid}-${hosts.length}.lua`);
  writeFileSync(
    file,
    `local hosts = {${hosts.map((h) => `"${h}"`).join(",")}}\n` +
      `local n = #hosts\n` +
      `request = function()\n  return wrk.format("GET", "/", {Host = hosts[math.random(n)]})\nend\n`,
  );
  return file;
}

export interface SatOptions {
  url: string;
  seconds: number;
  connections?: number;
  host?: string;
  /** Random Host per request (wrk Lua script, or autocannon's setupRequest). */
  hosts?: readonly string[];
}

/** Saturation run: wrk -t2 -c50 -d<seconds>, or autocannon with the same connections. */
export async function saturate(o: SatOptions): Promise<SatResult> {
  const c = o.connections ?? 50;
  if (WRK) {
    const args = ["-t2", `-c${c}`, `-d${o.seconds}s`, "--latency", "--timeout", "5s"];
    if (o.hosts) args.push("-s", randomHostScript(o.hosts));
    else if (o.host) args.push("-H", `Host: ${o.host}`);
    args.push(o.url);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(WRK, args, { encoding: "utf8", timeout: (o.seconds + 15) * 1000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    return parseWrk(out);
  }
  const hosts = o.hosts;
  const r = await autocannon({
    url: o.url,
    connections: c,
    duration: o.seconds,
    headers: o.host ? { host: o.host } : {},
    ...(hosts ? { requests: [{ setupRequest: (req: any) => ({ ...req, headers: { ...req.headers, host: hosts[Math.floor(Math.random() * hosts.length)] } }) }] } : {}),
  });
  const detail = `${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`;
  return { rps: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, requests: r.requests.total, errors: r.errors + r.non2xx + r.timeouts, errorDetail: detail };
}

export interface PacedTarget {
  host: string;
  port: number;
}

export interface PacedSample {
  target: number;
  /** performance.now() in this process when the request was sent, and when its body had all arrived. */
  sent: number;
  done: number;
  latencyUs: number;
  status: number;
  body: string;
  /** The value of the response header named by PacedOptions.header, when asked for and present. */
  header: string | undefined;
}

export interface PacedOptions {
  targets: PacedTarget[];
  /** Requests per second over all targets, sent round-robin. */
  rate: number;
  /** Hard bound on the run; stop() ends it earlier. */
  maxMs: number;
  hostHeader: (i: number) => string;
  connectionsPerTarget?: number;
  keepBody?: boolean;
  /** A response header to keep in each sample (lower case). */
  header?: string;
}

export interface PacedRun {
  samples: PacedSample[];
  errors: string[];
  /** Requests not sent because too many were already outstanding (the target fell behind). */
  skipped: number;
  stop(): Promise<void>;
}

/**
 * Open-loop client at a fixed rate: every millisecond it sends however many requests the schedule
 * says are due. Latency is measured with hrtime from send to the end of the body. Bounded: at most
 * `maxMs`, and never more than 8 × connections outstanding (beyond that requests are skipped and
 * counted, so an overloaded target cannot grow an unbounded queue here).
 */
export function startPaced(o: PacedOptions): PacedRun {
  const conns = o.connectionsPerTarget ?? 8;
  const agents = o.targets.map(() => new Agent({ keepAlive: true, maxSockets: conns }));
  const samples: PacedSample[] = [];
  const errors: string[] = [];
  const t0 = performance.now();
  let sent = 0;
  let outstanding = 0;
  let skipped = 0;
  let running = true;
  let drained: () => void = () => undefined;

  const one = (i: number) => {
    const ti = i % o.targets.length;
    const t = o.targets[ti] as PacedTarget;
    const sent = performance.now();
    const h0 = process.hrtime.bigint();
    outstanding++;
    const done = () => {
      outstanding--;
      if (!running && outstanding === 0) drained();
    };
    const req = request({ host: t.host, port: t.port, path: "/", agent: agents[ti], headers: { host: o.hostHeader(i) }, timeout: 5000 }, (res) => {
      let body = "";
      if (o.keepBody) res.setEncoding("utf8").on("data", (d: string) => (body += d));
      else res.resume();
      res.on("end", () => {
        const h = o.header === undefined ? undefined : res.headers[o.header];
        const header = typeof h === "string" ? h : undefined;
        samples.push({ target: ti, sent, done: performance.now(), latencyUs: Number(process.hrtime.bigint() - h0) / 1000, status: res.statusCode ?? 0, body, header });
        done();
      });
      res.on("error", (err) => {
        errors.push(`${t.host}:${t.port}: ${err.message}`);
        done();
      });
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", (err) => {
      errors.push(`${t.host}:${t.port}: ${err.message}`);
      done();
    });
    req.end();
  };

  const timer = setInterval(() => {
    const elapsed = performance.now() - t0;
    if (elapsed > o.maxMs) running = false;
    if (!running) {
      clearInterval(timer);
      if (outstanding === 0) drained();
      return;
    }
    const due = Math.floor((elapsed / 1000) * o.rate);
    for (; sent < due; sent++) {
      if (outstanding >= conns * 8 * o.targets.length) skipped++;
      else one(sent);
    }
  }, 1);

  const finished = new Promise<void>((resolve) => (drained = resolve));
  return {
    samples,
    errors,
    get skipped() {
      return skipped;
    },
    async stop() {
      running = false;
      // In-flight requests have a 5 s timeout each, so this wait is bounded too.
      await finished;
      for (const a of agents) a.destroy();
    },
  };
}

export interface PacedResult {
  p50Ms: number;
  p99Ms: number;
  completed: number;
  failed: number;
  /** Of `failed`: requests this client did not send because the target had fallen behind. */
  skipped: number;
  errorDetail: string;
}

/** A paced run for `ms`, summarised. */
export async function paced(o: Omit<PacedOptions, "maxMs">, ms: number): Promise<PacedResult> {
  const run = startPaced({ ...o, maxMs: ms });
  await new Promise((r) => setTimeout(r, ms + 5));
  await run.stop();
  const ok = run.samples.filter((s) => s.status === 200);
  const lat = ok.map((s) => s.latencyUs / 1000);
  const bad = run.samples.filter((s) => s.status !== 200).map((s) => `HTTP ${s.status}`);
  const detail = [...bad, ...run.errors, ...(run.skipped ? [`${run.skipped} not sent (over the outstanding cap)`] : [])];
  return {
    p50Ms: pct(lat, 50),
    p99Ms: pct(lat, 99),
    completed: run.samples.length,
    failed: bad.length + run.errors.length + run.skipped,
    skipped: run.skipped,
    errorDetail: [...new Set(detail)].slice(0, 3).join("; "),
  };
}
