import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * Process accounting from /proc and the small statistics every section shares. The machine is
 * shared and noisy, so single numbers mean little: every figure is a Summary (median, min, max over
 * interleaved rounds) and comparisons are ratios of figures measured side by side.
 */

// utime/stime in /proc/<pid>/stat are in clock ticks (usually 100 Hz).
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The fields after the command name, which is parenthesised and may itself contain spaces. */
function statFields(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
    return raw.slice(raw.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * `pid` and all its descendants (an agent with AGENT_WORKERS > 1, nginx master + worker). Read
 * once before a measurement: walking /proc takes milliseconds and must not land inside one.
 */
export function processTree(pid: number): number[] {
  const parent = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    const ppid = Number(f?.[1]);
    if (!f || !ppid) continue;
    parent.set(ppid, [...(parent.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    if (out.length > 256) return; // bounded, whatever /proc says
    out.push(p);
    for (const c of parent.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** User + system CPU of these processes so far, in microseconds. */
export function cpuMicros(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    // After the ")": state(0) ppid(1) ... utime(11) stime(12).
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1e6) / CLK_TCK;
}

/** Resident set (VmRSS) summed over the processes, in MB. */
export function rssMB(pids: readonly number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

/** Samples the peak RSS of a process tree while something runs (every 250 ms, bounded by the caller's run). */
export function rssSampler(pids: readonly number[]): { stop(): number } {
  let peak = rssMB(pids);
  const t = setInterval(() => (peak = Math.max(peak, rssMB(pids))), 250);
  t.unref();
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, rssMB(pids));
    },
  };
}

/** Nearest-rank percentile of an unsorted sample; NaN for an empty one. */
export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(xs: readonly number[]): Summary {
  const ok = xs.filter((x) => Number.isFinite(x));
  return { median: pct(ok, 50), min: ok.length ? Math.min(...ok) : NaN, max: ok.length ? Math.max(...ok) : NaN, n: ok.length };
}

/** Per-round ratios a[i]/b[i] of side-by-side measurements, summarised. */
export function ratioOf(a: readonly number[], b: readonly number[]): Summary {
  return summarize(a.map((x, i) => x / (b[i] ?? NaN)));
}

export function fmtNum(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return "—";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `median [min–max]`, the form every figure takes in BENCHMARKS.md. */
export function fmt(s: Summary | undefined, digits = 0, unit = ""): string {
  if (!s || !Number.isFinite(s.median)) return "—";
  return `${fmtNum(s.median, digits)}${unit} [${fmtNum(s.min, digits)}–${fmtNum(s.max, digits)}]`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** BENCH_QUICK=1 shortens every duration and count for a smoke run. */
export const QUICK = process.env.BENCH_QUICK === "1";
export const ROUNDS = 3;
