import { html } from "./html.js";

/**
 * Pool health as GET /v1/pools/:name/health answers it:
 * [{agent, panic, targets: [{address, state, since, lastError}]}], one entry per live agent.
 * A target's badge shows its worst state across agents; the title gives each agent's view.
 */

// Worst first: out of rotation (a failing active check, then passive ejection), then leaving,
// then ramping. Anything else the controller might add later ranks just above "healthy".
const RANK = ["unhealthy", "ejected", "draining", "slow_start", "healthy"];
const rank = (s) => {
  const i = RANK.indexOf(s);
  return i === -1 ? RANK.length - 1.5 : i;
};

/** Summary of one target over every agent's report, or null when no agent reports it yet. */
export function targetHealth(report, address) {
  if (!Array.isArray(report)) return null;
  const views = [];
  for (const a of report) {
    const t = a.targets.find((x) => x.address === address);
    if (t) views.push({ agent: a.agent, panic: a.panic, ...t });
  }
  if (views.length === 0) return null;
  const worst = views.reduce((w, v) => (rank(v.state) < rank(w.state) ? v : w)).state;
  return { worst, on: views.filter((v) => v.state === worst).length, of: report.length, views };
}

function describe(v) {
  return `${v.agent}: ${v.state}${v.since ? ` since ${v.since}` : ""}${v.lastError ? ` (${v.lastError})` : ""}${v.panic ? " [pool in panic]" : ""}`;
}

/** The badge: worst state, "on N of M agents" when the agents disagree, per-agent detail on hover. */
export function HealthBadge({ summary }) {
  if (!summary) return html`<span class="badge muted" data-health="unknown" title="no agent reports this target yet">no report</span>`;
  const { worst, on, of, views } = summary;
  const label = worst.replace("_", " ");
  return html`<span class=${`badge health-${worst}`} data-health=${worst} title=${views.map(describe).join("\n")}>${label}${on < of ? html` <span class="count">on ${on} of ${of} agents</span>` : null}</span>`;
}
