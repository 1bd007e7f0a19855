import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { Slicer, State } from "@switchyard/shared";
import { TableHolder } from "../src/serve/holder.js";

const silent = pino({ level: "silent" });
const state = (pools: Record<string, string>, routes: Record<string, string>) =>
  State.parse({
    defaultUpstream: null,
    pools: Object.fromEntries(Object.entries(pools).map(([name, address]) => [name, { targets: [{ address }] }])),
    routes: Object.fromEntries(Object.entries(routes).map(([host, upstream]) => [host, { upstream }])),
  });

/** The engine side of a swap: which target addresses it was told to keep, call by call. */
function retainer() {
  const calls: string[][] = [];
  return { calls, retain: (addresses: ReadonlySet<string>) => void calls.push([...addresses].sort()) };
}

test("install compiles aside and swaps: a reader keeps the table it took, and the engine keeps only the new table's targets", async () => {
  const engine = retainer();
  const holder = new TableHolder(engine, new Slicer(0.5), silent);
  assert.equal(holder.current?.revision, undefined, "no table before the first install");

  await holder.install(1, state({ blue: "127.0.0.1:1001" }, { "a.test": "blue" }));
  const first = holder.current;
  assert.equal(first?.revision, 1);

  await holder.install(2, state({ green: "127.0.0.1:1002" }, { "a.test": "green", "b.test": "127.0.0.1:1003" }));
  assert.equal(holder.current?.revision, 2);
  assert.notEqual(holder.current, first);
  const held = first?.resolve("a.test", "/");
  assert.equal(held?.kind === "target" ? held.upstream : held?.kind, "blue", "the old table is untouched");
  assert.deepEqual(engine.calls, [["127.0.0.1:1001"], ["127.0.0.1:1002", "127.0.0.1:1003"]]);
});

test("a state that does not compile is not swapped in: install throws, and the table and the engine's targets stay", async () => {
  const engine = retainer();
  const holder = new TableHolder(engine, new Slicer(0.5), silent);
  await holder.install(1, state({ blue: "127.0.0.1:1001" }, { "a.test": "blue" }));
  const before = holder.current;
  await assert.rejects(holder.install(2, state({}, { "a.test": "nowhere" })), /unknown pool 'nowhere'/);
  assert.equal(holder.current, before);
  assert.equal(engine.calls.length, 1);
});
