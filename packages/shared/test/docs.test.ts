import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { buildKeys } from "@switchyard/shared";

// ARCHITECTURE.md's Redis table is the map operators read; it must name exactly the keys keys.ts builds.
test("ARCHITECTURE.md's Redis table lists every key and channel keys.ts builds, and no other", () => {
  const doc = readFileSync(new URL("../../../ARCHITECTURE.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## Redis layout"), doc.indexOf("## Sync protocol"));
  const documented = [...section.matchAll(/^\| `(\{p\}:[^`]+)` \|/gm)].map((m) => m[1] as string).sort();
  const k = buildKeys("p");
  const built = Object.entries(k)
    .filter(([name]) => name !== "prefix")
    .map(([name, v]) => {
      if (name === "bullPrefix") return `${v as string}:*`;
      if (typeof v !== "function") return v as string;
      const placeholder = name === "cutoverLock" ? "<host>" : "<id>";
      return (v as (x: string) => string)(placeholder);
    })
    .sort();
  assert.deepEqual(documented, built);
});
