// `pnpm demo` as a user meets it: started, used through the commands it prints, started a second
// time by mistake, and stopped with Ctrl-C. Every process the demo starts carries a marker in its
// environment, so "nothing left behind" is checked against the whole machine's process table.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { freePort, waitFor } from "@switchyard/testkit";
import { ROOT } from "../src/index.js";
import { get } from "../src/fleet.js";

interface Demo {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * Starts the demo in its own process group, as a shell starts a foreground job, so a SIGINT to
 * the group is what Ctrl-C in a terminal sends.
 */
function startDemo(env: Record<string, string>): Demo {
  const child = spawn(process.execPath, ["scripts/demo.mjs"], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Pids of live processes whose environment holds `marker` (the demo and all it started). */
function marked(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, "latin1").includes(marker)) pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** `pid` and its descendants as `pid:starttime` (redis-server rewrites its environ, so markers miss it). */
function tree(root: number): string[] {
  const procs: { pid: number; ppid: number; id: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Fields after the parenthesised command: state ppid ... (starttime is field 22).
      const fields = readFileSync(`/proc/${name}/stat`, "latin1").replace(/^.*\) /, "").split(" ");
      procs.push({ pid: Number(name), ppid: Number(fields[1]), id: `${name}:${fields[19]}` });
    } catch {
      // gone meanwhile
    }
  }
  const out = new Set<number>([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) if (!out.has(p.pid) && out.has(p.ppid)) (out.add(p.pid), (grew = true));
  }
  return procs.filter((p) => out.has(p.pid)).map((p) => p.id);
}

const alive = (ids: string[]) => ids.filter((id) => tree(Number(id.split(":")[0])).includes(id));

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))]);

test("pnpm demo: works as printed, a second one refuses cleanly naming the ports, Ctrl-C ends quietly, nothing is left behind", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "demo-test-"));
  const ports = { controller: await freePort(), a: await freePort(), b: await freePort(), adminA: await freePort(), adminB: await freePort() };
  const markerA = `DEMO_TEST_MARK=${randomBytes(8).toString("hex")}`;
  const markerB = `DEMO_TEST_MARK=${randomBytes(8).toString("hex")}`;
  const env = (marker: string) => ({
    TMPDIR: tmp,
    SWITCHYARD_PREFIX: "demo-test",
    CONTROLLER_PORT: String(ports.controller),
    DEMO_AGENT_PORTS: `${ports.a},${ports.b}`,
    DEMO_ADMIN_PORTS: `${ports.adminA},${ports.adminB}`,
    DEMO_TEST_MARK: marker.split("=")[1] as string,
  });
  const first = startDemo(env(markerA));
  let started: string[] = [];
  try {
    await waitFor(() => first.output().includes("DEMO READY"), { timeoutMs: 60_000, what: `demo ready; output so far:\n${first.output()}` });
    const out = first.output();
    assert.match(out, /\[agent-a\] +\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(switchyard-agent\): route table applied/, "children's JSON logs are pretty-printed");
    assert.doesNotMatch(out, /^\[(agent-a|controller)\] +\{"level"/m, "no raw pino JSON");
    assert.equal(readdirSync(tmp).filter((d) => d.startsWith("switchyard-demo-")).length, 1, "its own redis-server works in one temp dir");
    const [, url, token] = /export SWITCHYARD_URL=(\S+) SWITCHYARD_TOKEN=(\S+)/.exec(out) ?? [];
    assert.ok(url && token, out);
    for (const port of [ports.a, ports.b]) assert.match((await get("127.0.0.1", port, "demo.local")).body, /^blue-\d/);

    // The printed switch command, as a user would paste it.
    const cmd = /'(http:\/\/127\.0\.0\.1:\d+\/v1\/routes\/demo\.local\?wait=applied&timeout=2000)' -d '(\{[^']+\})'/.exec(out);
    assert.ok(cmd, "the demo prints the switch command");
    const res = await fetch(cmd[1] as string, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: cmd[2] });
    const body = (await res.json()) as { revision: number; complete: boolean; applied: unknown[] };
    assert.equal(body.complete, true);
    assert.equal(body.applied.length, 2);
    for (const port of [ports.a, ports.b]) assert.match((await get("127.0.0.1", port, "demo.local")).body, /^green-\d/);

    // A second demo on the same ports: refused before it starts anything or writes anything.
    const second = startDemo(env(markerB));
    const code = await within(second.exited, 30_000, "the second demo");
    assert.equal(code, 1, second.output());
    for (const [port, role] of [[ports.controller, "controller"], [ports.a, "agent-a"], [ports.b, "agent-b"], [ports.adminA, "agent-a admin"], [ports.adminB, "agent-b admin"]]) {
      assert.ok(second.output().includes(`${port} (${role})`), `names ${port} (${role}):\n${second.output()}`);
    }
    assert.match(second.output(), /already in use on 127\.0\.0\.1; is another demo running\?/);
    assert.doesNotMatch(second.output(), /\n\s+at |Error:|\b401\b|unauthorized/i, "no stack trace, no 401");
    assert.deepEqual(marked(markerB), [], "the second demo left no process behind");
    assert.equal(readdirSync(tmp).length, 1, "the second demo made no temp dir");
    const state = await fetch(`${url}/v1/state`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(((await state.json()) as { revision: number }).revision, body.revision, "the first demo's fleet was not touched");
    started = tree(first.child.pid as number);
    assert.equal(started.length, 7, "the first demo still runs: itself, redis, controller, two agents, blue, green");
  } finally {
    // Ctrl-C in the demo's terminal.
    if (first.child.exitCode === null && first.child.pid) process.kill(-first.child.pid, "SIGINT");
    const code = await within(first.exited, 30_000, "stopping the demo").catch((err) => {
      first.child.kill("SIGKILL");
      throw err;
    });
    const after = first.output().slice(first.output().indexOf("DEMO READY"));
    await waitFor(() => marked(markerA).length + alive(started).length === 0, { timeoutMs: 5000, what: "every demo process gone" }).catch(() => undefined);
    const leftovers = [...marked(markerA).map(String), ...alive(started)];
    for (const id of leftovers) process.kill(Number(id.split(":")[0]), "SIGKILL");
    const dirs = readdirSync(tmp);
    rmSync(tmp, { recursive: true, force: true });
    assert.equal(code, 0, first.output());
    assert.match(after, /stopping the demo\.\.\.\n/);
    assert.match(after, /demo stopped\.\n$/);
    assert.doesNotMatch(after, /\n\s+at |Error|exited \(|ERROR|WARN/, `quiet stop:\n${after}`);
    assert.deepEqual(leftovers, [], "no process left behind");
    assert.deepEqual(dirs, [], "the temp dir is removed");
  }
});
