import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@switchyard/testkit";
import { startDaemon, type Daemon } from "./daemon.js";

/**
 * HAProxy as the second reference proxy, beside nginx: one thread, keep-alive to the upstream and
 * `http-reuse always`, so idle server connections are shared by every client connection (HAProxy's
 * most reuse-friendly setting, the one a production edge in front of a trusted upstream runs).
 * Config and pid file live in a temp directory; nothing is logged.
 */

// BENCH_NO_HAPROXY=1 behaves as if HAProxy were not installed (to exercise the "not installed" report).
export const HAPROXY = process.env.BENCH_NO_HAPROXY === "1" ? undefined : ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy"].find((p) => existsSync(p));

export function haproxyVersion(): string {
  if (!HAPROXY) return "not installed";
  const r = spawnSync(HAPROXY, ["-v"], { encoding: "utf8" });
  return /version (\S+)/i.exec(`${r.stdout}${r.stderr}`)?.[1] ?? "installed (version unknown)";
}


/** The reference configuration: 1 thread, keep-alive both sides, idle server connections shared. */
function config(dir: string, port: number, upstream: string): string {
  return `
global
  nbthread 1
  maxconn 4096
  pidfile ${dir}/haproxy.pid

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 65s
  timeout server 30s
  # Client connections stay open between requests as long as nginx's keepalive_timeout.
  timeout http-keep-alive 65s

frontend edge
  bind 127.0.0.1:${port}
  default_backend app

backend app
  server app1 ${upstream}
`;
}

/** HAProxy proxying to `upstream` (host:port), ready when it answers. */
export async function startHaproxy(upstream: string): Promise<Daemon> {
  if (!HAPROXY) throw new Error("haproxy is not installed");
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-haproxy-"));
  const port = await freePort();
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, config(dir, port, upstream));
  // -db: stay in the foreground. SIGTERM: stop now (SIGUSR1 would wait for idle keep-alive clients).
  return startDaemon("haproxy", HAPROXY, ["-db", "-f", file], { port, dir, stopSignal: "SIGTERM" });
}
