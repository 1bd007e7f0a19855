import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pino } from "pino";
import { dict, digestOf, type State } from "@switchyard/shared";
import { DISK_FORMAT, DiskTable } from "../src/sync/disk.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "switchyard-disk-"));
  dirs.push(d);
  return d;
}

/** A logger that keeps what it was told, to assert on the refusal's log line. */
function recording() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const state = (n: number): State => ({
  defaultUpstream: null,
  pools: dict([["blue", { targets: [{ address: "127.0.0.1:1", weight: 1 }] }]]),
  routes: dict(Array.from({ length: n }, (_, i) => [`h${i}.local`, { upstream: "blue" }] as const)),
} as State);
const EPOCH = "0193a1b2c3d4-9f8e7d6c";

test("the table written after applies loads back whole: the newest of many coalesced saves, no tmp file left", async () => {
  const d = await dir();
  const disk = new DiskTable(d, pino({ level: "silent" }));
  for (let r = 1; r <= 50; r++) disk.save({ epoch: EPOCH, revision: r, state: state(r) });
  await disk.flushed();
  assert.deepEqual(await readdir(d), ["table.json"]);
  const back = await new DiskTable(d, pino({ level: "silent" })).load();
  assert.equal(back?.epoch, EPOCH);
  assert.equal(back?.revision, 50);
  assert.equal(digestOf(back?.state), digestOf(state(50)));
});

test("a corrupt file, a wrong checksum, another format or an invalid state is refused whole, with a log line", async () => {
  const d = await dir();
  const disk = new DiskTable(d, pino({ level: "silent" }));
  disk.save({ epoch: EPOCH, revision: 3, state: state(3) });
  await disk.flushed();
  const good = await readFile(disk.path, "utf8");
  const outer = JSON.parse(good) as { format: number; sha256: string; body: string };
  const badState = JSON.stringify({ epoch: EPOCH, revision: 3, state: { defaultUpstream: null, pools: {}, routes: { "a.local": { upstream: "ghost" } } } });
  const { createHash } = await import("node:crypto");
  const cases: [string, string][] = [
    ["truncated", good.slice(0, good.length / 2)],
    ["checksum", JSON.stringify({ ...outer, body: outer.body.replace("h1.local", "h9.local") })],
    ["format", JSON.stringify({ ...outer, format: DISK_FORMAT + 1 })],
    ["invalid state", JSON.stringify({ format: DISK_FORMAT, sha256: createHash("sha256").update(badState).digest("hex"), body: badState })],
  ];
  for (const [what, text] of cases) {
    await writeFile(disk.path, text);
    const { log, lines } = recording();
    assert.equal(await new DiskTable(d, log).load(), undefined, what);
    assert.ok(lines.some((l) => l.level >= 50 && /refusing the table on disk/.test(l.msg)), `${what}: one error line`);
  }
  await rm(disk.path);
  assert.equal(await new DiskTable(d, pino({ level: "silent" })).load(), undefined, "no file: nothing, quietly");
});
