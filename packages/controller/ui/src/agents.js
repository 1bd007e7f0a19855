import { ago, html } from "./html.js";

/** A behind agent becomes a straggler once the revision it lacks is this old. */
export const STRAGGLER_MS = 5000;
/** Heartbeat records are refreshed every second or so; one this old is not being refreshed. */
const SILENT_MS = 5000;

/**
 * The epoch the store is at: the state's own when the controller reports one, else the one most
 * agents report. Agents report an epoch only once the fleet has them; without any, no column.
 */
function storeEpoch(state, agents) {
  if (state.epoch !== undefined && state.epoch !== null) return state.epoch;
  const counts = new Map();
  for (const a of agents) if (a.epoch !== undefined) counts.set(a.epoch, (counts.get(a.epoch) ?? 0) + 1);
  let best;
  for (const [e, n] of counts) if (best === undefined || n > counts.get(best)) best = e;
  return best;
}

/** Agents: id, address, revision, lag, last seen, version; stragglers and other-epoch agents marked. */
export function Agents({ agents, state, revisionAt, now }) {
  const epoch = storeEpoch(state, agents);
  const withEpoch = agents.some((a) => a.epoch !== undefined);
  return html`<section aria-labelledby="agents-h" class="card">
    <h2 id="agents-h">Agents <span class="muted">${agents.length} live</span></h2>
    <table class="grid" data-testid="agents">
      <thead><tr>
        <th scope="col">Agent</th><th scope="col">Address</th><th scope="col">Revision</th><th scope="col">Lag</th>
        <th scope="col">Last seen</th><th scope="col">Version</th>${withEpoch ? html`<th scope="col">Epoch</th>` : null}<th scope="col">Status</th>
      </tr></thead>
      <tbody>
        ${agents.length === 0 ? html`<tr><td colspan="8" class="muted">No live agents.</td></tr>` : null}
        ${agents.map((a) => {
          const lag = Math.max(0, state.revision - a.revision);
          const straggler = lag > 0 && revisionAt !== null && now - revisionAt > STRAGGLER_MS;
          const silent = a.lastSeen && now - Date.parse(a.lastSeen) > SILENT_MS;
          const otherEpoch = withEpoch && a.epoch !== epoch;
          const flags = [straggler && "straggler", silent && "silent", otherEpoch && "other epoch"].filter(Boolean);
          const status = flags.length ? flags.join(", ") : lag > 0 ? "applying" : "in sync";
          return html`<tr key=${a.id} data-agent=${a.id} class=${flags.length ? "warn" : lag > 0 ? "pending" : ""}>
            <th scope="row">${a.id}</th>
            <td><code>${a.address}</code></td>
            <td data-testid="agent-revision">${a.revision}</td>
            <td>${lag}</td>
            <td>${ago(a.lastSeen, now)}</td>
            <td>${a.version}</td>
            ${withEpoch ? html`<td>${a.epoch ?? "—"}${otherEpoch ? html` <span class="muted">(store ${epoch ?? "?"})</span>` : null}</td>` : null}
            <td><span class=${`badge ${flags.length ? "bad" : lag > 0 ? "mid" : "good"}`}>${status}</span></td>
          </tr>`;
        })}
      </tbody>
    </table>
  </section>`;
}
