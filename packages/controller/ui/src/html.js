// htm bound to Preact's h: tagged templates instead of JSX, so the source needs no compile step
// of its own (esbuild only bundles it).
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);

/** An upstream as text: a pool, an address, or `blue 90 / green 10`. */
export function upstreamText(u) {
  if (u === null || u === undefined) return "—";
  if (typeof u === "string") return u;
  if (u.split) return Object.entries(u.split).map(([p, w]) => `${p} ${w}`).join(" / ");
  return JSON.stringify(u);
}

/** The pools an upstream names (a split names several; an address none). */
export function poolsOf(u) {
  if (typeof u === "string") return u.includes(":") ? [] : [u];
  if (u?.split) return Object.keys(u.split);
  return [];
}

export function ago(iso, now) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

export const pct = (x) => `${(x * 100).toFixed(1)}%`;
