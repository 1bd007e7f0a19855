import { useState } from "preact/hooks";
import { html, pct, upstreamText } from "./html.js";

const TERMINAL = new Set(["succeeded", "rolled_back", "failed", "aborted"]);

/**
 * Each step's error rate: a watch window's readings are cumulative since the step began, so the
 * step's rate is its last reading before the next step was written.
 */
export function stepRates(c, steps) {
  return steps.map((s, i) => {
    if (!s.writtenAt) return null;
    const from = Date.parse(s.writtenAt);
    const next = steps[i + 1]?.writtenAt;
    const until = next ? Date.parse(next) : Infinity;
    const inStep = c.readings.filter((r) => Date.parse(r.at) >= from && Date.parse(r.at) < until);
    return inStep.at(-1) ?? null;
  });
}

/** Error rate per step as bars, the rollback threshold as a dashed line (inline SVG, no library). */
function RateChart({ c, steps }) {
  const rates = stepRates(c, steps);
  const max = Math.max(c.rollback.maxErrorRate * 1.5, ...rates.map((r) => r?.errorRate ?? 0), 0.01);
  const W = 30, GAP = 8, H = 48, TOP = 12;
  const width = rates.length * (W + GAP) + GAP;
  const y = (v) => TOP + H - (v / max) * H;
  const label = rates.map((r, i) => `step ${i + 1}: ${r ? `${pct(r.errorRate)} of ${r.requests}` : "no traffic yet"}`).join("; ");
  return html`<svg class="chart" width=${width} height=${TOP + H + 14} viewBox=${`0 0 ${width} ${TOP + H + 14}`} role="img" aria-label=${`error rate per step: ${label}`}>
    <line x1="0" x2=${width} y1=${TOP + H} y2=${TOP + H} class="axis" />
    ${rates.map((r, i) => {
      const v = r?.errorRate ?? 0;
      const bad = v > c.rollback.maxErrorRate;
      return html`<g key=${i}>
        <rect x=${GAP + i * (W + GAP)} y=${Math.min(y(v), TOP + H - 1)} width=${W} height=${Math.max(1, TOP + H - y(v))} class=${r ? (bad ? "bar bad" : "bar") : "bar none"}><title>${`step ${i + 1}: ${r ? pct(v) : "no data"}`}</title></rect>
        <text x=${GAP + i * (W + GAP) + W / 2} y=${TOP + H + 12} class="tick">${i + 1}</text>
        ${r ? html`<text x=${GAP + i * (W + GAP) + W / 2} y=${Math.min(y(v), TOP + H) - 2} class="tick">${pct(v)}</text>` : null}
      </g>`;
    })}
    <line x1="0" x2=${width} y1=${y(c.rollback.maxErrorRate)} y2=${y(c.rollback.maxErrorRate)} class="threshold" />
  </svg>`;
}

/** Every planned step, written or not: the record lists a step only once it is written. */
function plannedSteps(c) {
  const weights = c.strategy === "instant" ? [100] : (c.strategy?.canary?.steps ?? []);
  const rows = weights.map((weight, i) => c.steps[i] ?? { index: i + 1, weight, revision: null, acks: [], stragglers: [], completedAt: null });
  return rows.length >= c.steps.length ? rows : c.steps;
}

function Cutover({ c, fleet, canWrite, ask, api }) {
  const live = !TERMINAL.has(c.state);
  const steps = plannedSteps(c);
  const done = steps.filter((s) => s.completedAt || s.skipped).length;
  const action = (what) =>
    ask({
      title: `${what === "abort" ? "Abort" : "Promote"} cutover ${c.id}`,
      detail: what === "abort" ? `Stop ${c.id} and restore the original routes of ${c.hosts.join(", ")}.` : `Skip the remaining steps and the bake: send all of ${c.hosts.join(", ")} to ${upstreamText(c.to)} now.`,
      run: async () => {
        await api("POST", `/v1/cutovers/${c.id}/${what}`);
        return `${what} requested for ${c.id}`;
      },
    });
  return html`<article class=${`cutover ${live ? "live" : ""}`} data-cutover=${c.id} data-state=${c.state} aria-label=${`cutover ${c.id}`}>
    <header>
      <strong>${c.hosts.join(", ")}</strong> → ${upstreamText(c.to)}
      <span class=${`badge state-${c.state}`} data-testid="cutover-state">${c.state.replace("_", " ")}</span>
      <span class="muted" data-testid="cutover-progress">step ${c.step ? c.step.index : done} of ${steps.length}${c.step ? ` (${c.step.weight}%)` : ""}</span>
      ${canWrite && live
        ? html`<span class="actions"><button type="button" onClick=${() => action("promote")} data-write="promote">Promote</button> <button type="button" class="danger" onClick=${() => action("abort")} data-write="abort">Abort</button></span>`
        : null}
    </header>
    <progress max=${steps.length} value=${done} aria-label=${`steps completed for ${c.id}`}></progress>
    <div class="cutover-body">
      <table class="grid small">
        <thead><tr><th scope="col">Step</th><th scope="col">Weight</th><th scope="col">Revision</th><th scope="col">Acks</th><th scope="col">Stragglers</th><th scope="col">Done</th></tr></thead>
        <tbody>${steps.map((s) => html`<tr key=${s.index} data-step=${s.index} class=${s.completedAt ? "done" : s.revision !== null ? "current" : ""}>
          <td>${s.index}</td><td>${s.weight}%</td><td>${s.revision ?? "—"}</td>
          <td data-testid="step-acks">${s.revision === null ? "—" : `${s.acks.length} / ${Math.max(fleet, s.acks.length + s.stragglers.length)}`}</td>
          <td>${s.stragglers.length ? s.stragglers.join(", ") : "—"}</td>
          <td>${s.skipped ? "skipped" : s.completedAt ? "✓" : ""}</td>
        </tr>`)}</tbody>
      </table>
      <figure><${RateChart} c=${c} steps=${steps} /><figcaption class="muted">error rate per step (line: ${pct(c.rollback.maxErrorRate)} rollback)</figcaption></figure>
    </div>
    ${c.reason ? html`<p class="muted">${c.reason}</p>` : null}
  </article>`;
}

function StartForm({ state, ask, api }) {
  const hosts = Object.keys(state.routes).sort();
  const pools = Object.keys(state.pools).sort();
  const [host, setHost] = useState("");
  const [to, setTo] = useState("");
  const [steps, setSteps] = useState("");
  const [interval, setEvery] = useState("30s");
  const h = host || hosts[0] || "";
  // By default, a pool the host is not on already.
  const t = to || pools.find((p) => p !== state.routes[h]?.upstream) || pools[0] || "";
  const submit = (e) => {
    e.preventDefault();
    const weights = steps.split(",").map((x) => Number(x.trim())).filter((x) => x > 0);
    const strategy = weights.length ? { canary: { steps: weights, interval } } : "instant";
    ask({
      title: `Start a cutover of ${h}`,
      detail: `Move ${h} to ${t}, ${weights.length ? `canary steps ${weights.join("%, ")}% every ${interval}` : "in one step"}; it rolls back on errors.`,
      run: async () => `Cutover ${(await api("POST", "/v1/cutovers", { host: h, to: t, strategy })).id} queued`,
    });
  };
  return html`<form class="start" onSubmit=${submit} aria-label="Start a cutover">
    <label>Host <select name="host" value=${h} onChange=${(e) => setHost(e.currentTarget.value)}>${hosts.map((x) => html`<option value=${x}>${x}</option>`)}</select></label>
    <label>To pool <select name="to" value=${t} onChange=${(e) => setTo(e.currentTarget.value)}>${pools.map((x) => html`<option value=${x}>${x}</option>`)}</select></label>
    <label>Canary steps (%) <input name="steps" placeholder="10,50,100 (empty: instant)" value=${steps} onInput=${(e) => setSteps(e.currentTarget.value)} /></label>
    <label>Interval <input name="interval" size="5" value=${interval} onInput=${(e) => setEvery(e.currentTarget.value)} /></label>
    <button type="submit" disabled=${!h || !t} data-write="start">Start cutover</button>
  </form>`;
}

/** Live cutovers first, then the few most recent finished ones. */
export function Cutovers({ cutovers, state, fleet, canWrite, ask, api }) {
  const live = cutovers.filter((c) => !TERMINAL.has(c.state));
  const recent = cutovers.filter((c) => TERMINAL.has(c.state)).slice(0, 3);
  return html`<section aria-labelledby="cutovers-h" class="card">
    <h2 id="cutovers-h">Cutovers <span class="muted">${live.length} live</span></h2>
    ${canWrite ? html`<${StartForm} state=${state} ask=${ask} api=${api} />` : null}
    ${live.length === 0 && recent.length === 0 ? html`<p class="muted">No cutovers yet.</p>` : null}
    ${[...live, ...recent].map((c) => html`<${Cutover} key=${c.id} c=${c} fleet=${fleet} canWrite=${canWrite} ask=${ask} api=${api} />`)}
  </section>`;
}
