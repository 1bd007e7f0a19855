import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { request } from "node:http";
import { join } from "node:path";
import { freePort } from "@switchyard/testkit";
import { startDaemon, type Daemon } from "./daemon.js";

/**
 * nginx as the reference proxy (and, when installed, as the upstream: `return 200` costs next to no
 * CPU, which leaves more of the two cores to the process being measured). Everything lives in a
 * temp prefix: config, pid, temp paths; the error log goes to stderr and access logging is off.
 */

// BENCH_NO_NGINX=1 behaves as if nginx were not installed (to exercise the fallback).
export const NGINX = process.env.BENCH_NO_NGINX === "1" ? undefined : ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"].find((p) => existsSync(p));

export function nginxVersion(): string {
  if (!NGINX) return "not installed";
  // nginx -v prints to stderr.
  const r = spawnSync(NGINX, ["-v"], { encoding: "utf8" });
  return /nginx\/(\S+)/.exec(`${r.stderr}${r.stdout}`)?.[1] ?? "installed (version unknown)";
}

export type Nginx = Daemon;

const common = (dir: string) => `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 65s;
  # wrk's connections live for the whole run; nginx's default of 1000 requests would recycle them.
  keepalive_requests 1000000;
`;

async function launch(conf: string, label: string, extraPort?: number): Promise<Nginx> {
  if (!NGINX) throw new Error("nginx is not installed");
  const dir = mkdtempSync(join(tmpdir(), `switchyard-bench-nginx-${label}-`));
  for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"]) mkdirSync(join(dir, d));
  const port = await freePort();
  const file = join(dir, "nginx.conf");
  writeFileSync(file, common(dir) + conf.replaceAll("@PORT@", String(port)).replaceAll("@EXTRA@", String(extraPort ?? 0)) + "\n}\n");
  return startDaemon(`nginx (${label})`, NGINX, ["-p", dir, "-e", "stderr", "-c", file, "-g", "daemon off;"], { port, dir, stopSignal: "SIGQUIT" });
}

/** The reference proxy: 1 worker, proxy_pass to an upstream block with keep-alive connections. */
export function startNginxProxy(upstream: string, keepalive = 64): Promise<Nginx> {
  return launch(poolConf([upstream], keepalive), "proxy");
}

/**
 * nginx over a pool of `upstreams` at its defaults for failures: max_fails=1, fail_timeout=10s,
 * proxy_next_upstream error timeout (the next server after a connect error, for any method).
 */
export function startNginxPool(upstreams: readonly string[], keepalive = 64): Promise<Nginx> {
  return launch(poolConf(upstreams, keepalive), "pool");
}

/** One keep-alive upstream block over `upstreams` and a server proxying everything to it. */
function poolConf(upstreams: readonly string[], keepalive: number): string {
  return `
  upstream app { ${upstreams.map((u) => `server ${u};`).join(" ")} keepalive ${keepalive}; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:@PORT@;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }`;
}

export interface NginxUpstream extends Nginx {
  /** Connections nginx has accepted so far (stub_status `accepts`), see acceptedBy. */
  accepted(): Promise<number>;
}

/**
 * An upstream answering every request with a 100-byte body, with stub_status on a second port: its
 * `accepts` counter is how the bench counts the new upstream connections a proxy opens.
 */
export async function startNginxUpstream(): Promise<NginxUpstream> {
  const body = "switchyard bench upstream\\n".padEnd(100 + 1, "x"); // "\\n" is one byte once nginx reads it
  const statusPort = await freePort();
  const n = await launch(
    `
  server {
    listen 127.0.0.1:@PORT@;
    default_type text/plain;
    location / { return 200 "${body}"; }
  }
  server {
    listen 127.0.0.1:@EXTRA@;
    location / { stub_status; }
  }`,
    "upstream",
    statusPort,
  );
  return { ...n, accepted: () => acceptedBy(statusPort, (text) => /^\s*(\d+)\s+\d+\s+\d+\s*$/m.exec(text)?.[1]) };
}

/**
 * Reads an accepted-connections counter over a connection of its own (no keep-alive), which the
 * counter already includes when it answers: between two readings, others opened second − first − 1.
 */
export function acceptedBy(port: number, parse: (body: string) => string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/__connections", agent: false, headers: { connection: "close" }, timeout: 5000 }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (d: string) => (text += d));
      res.on("end", () => {
        const n = Number(parse(text));
        if (Number.isFinite(n)) resolve(n);
        else reject(new Error(`no connection count in ${JSON.stringify(text)}`));
      });
    });
    req.on("timeout", () => req.destroy(new Error("connection count timed out")));
    req.on("error", reject);
    req.end();
  });
}
