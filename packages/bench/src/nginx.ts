import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "@switchyard/testkit";

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

export interface Nginx {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

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

async function launch(conf: string, label: string): Promise<Nginx> {
  if (!NGINX) throw new Error("nginx is not installed");
  const dir = mkdtempSync(join(tmpdir(), `switchyard-bench-nginx-${label}-`));
  for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"]) mkdirSync(join(dir, d));
  const port = await freePort();
  const file = join(dir, "nginx.conf");
  writeFileSync(file, common(dir) + conf.replaceAll("@PORT@", String(port)) + "\n}\n");
  let stderr = "";
  const child: ChildProcess = spawn(NGINX, ["-p", dir, "-e", "stderr", "-c", file, "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`nginx (${label}) exited: ${stderr}`);
      const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { host: "bench.local" } }).catch(() => undefined);
      return r !== undefined && (await r.arrayBuffer(), true);
    },
    { timeoutMs: 10_000, what: `nginx ${label} on ${port}` },
  );
  return {
    port,
    pid: child.pid ?? -1,
    async stop() {
      process.removeListener("exit", kill);
      if (child.exitCode === null) {
        const exited = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGQUIT");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The reference proxy: 1 worker, proxy_pass to an upstream block with keep-alive connections. */
export function startNginxProxy(upstream: string, keepalive = 64): Promise<Nginx> {
  return launch(
    `
  upstream app { server ${upstream}; keepalive ${keepalive}; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:@PORT@;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }`,
    "proxy",
  );
}

/** An upstream answering every request with a 100-byte body. */
export function startNginxUpstream(): Promise<Nginx> {
  const body = "switchyard bench upstream\\n".padEnd(100 + 1, "x"); // "\\n" is one byte once nginx reads it
  return launch(
    `
  server {
    listen 127.0.0.1:@PORT@;
    default_type text/plain;
    location / { return 200 "${body}"; }
  }`,
    "upstream",
  );
}
