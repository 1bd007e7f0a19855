import { useState } from "preact/hooks";
import { html, poolsOf, upstreamText } from "./html.js";

/** A target's health as the health endpoint reports it (its shape is read loosely: it may grow). */
function healthOf(report, address) {
  if (!report) return null;
  const list = Array.isArray(report.targets) ? report.targets : report.targets && typeof report.targets === "object" ? Object.entries(report.targets).map(([a, t]) => ({ address: a, ...t })) : [];
  const t = list.find((x) => x.address === address);
  if (!t) return null;
  if (typeof t.healthy === "boolean") return t.healthy ? "healthy" : "unhealthy";
  return String(t.state ?? t.status ?? t.health ?? "unknown");
}

function Targets({ state, upstream, health }) {
  const pools = poolsOf(upstream);
  if (pools.length === 0) return html`<span class="muted">${typeof upstream === "string" ? "direct address" : "—"}</span>`;
  return html`<ul class="targets">
    ${pools.flatMap((p) =>
      (state.pools[p]?.targets ?? []).map((t) => {
        const h = healthOf(health.get(p), t.address);
        return html`<li key=${p + t.address}><span class="pool">${p}</span> <code>${t.address}</code>${h ? html` <span class=${`badge health-${h}`}>${h}</span>` : null}</li>`;
      }),
    )}
  </ul>`;
}

function SwitchControl({ host, route, pools, ask, api }) {
  const current = typeof route.upstream === "string" ? route.upstream : "";
  const [picked, setTo] = useState("");
  // After a switch (here or elsewhere) the pick may be the current upstream: offer another.
  const to = picked && picked !== current ? picked : pools.find((p) => p !== current) ?? "";
  const id = `switch-${host}`;
  return html`<form class="inline" onSubmit=${(e) => {
    e.preventDefault();
    ask({
      title: `Switch ${host}`,
      detail: `Route ${host} from ${upstreamText(route.upstream ?? route.rules)} to pool ${to}, on every agent.`,
      run: async () => {
        const r = await api("PUT", `/v1/routes/${encodeURIComponent(host)}`, { upstream: to });
        return `Switched ${host} to ${to} (revision ${r.revision})`;
      },
    });
  }}>
    <label for=${id} class="sr-only">New upstream for ${host}</label>
    <select id=${id} value=${to} onChange=${(e) => setTo(e.currentTarget.value)}>
      ${pools.map((p) => html`<option value=${p}>${p}</option>`)}
    </select>
    <button type="submit" disabled=${!to || to === current} data-write="switch">Switch</button>
  </form>`;
}

/** Routes: host, upstream, the pool targets (with health once the controller reports it). */
export function Routes({ state, health, canWrite, ask, api }) {
  const hosts = Object.keys(state.routes).sort();
  const pools = Object.keys(state.pools).sort();
  return html`<section aria-labelledby="routes-h" class="card">
    <h2 id="routes-h">Routes <span class="muted">revision <span data-testid="state-revision">${state.revision}</span></span></h2>
    <p class="muted">Default upstream: ${upstreamText(state.defaultUpstream)}</p>
    <table class="grid" data-testid="routes">
      <thead><tr><th scope="col">Host</th><th scope="col">Upstream</th><th scope="col">Targets</th>${canWrite ? html`<th scope="col">Switch</th>` : null}</tr></thead>
      <tbody>
        ${hosts.length === 0 ? html`<tr><td colspan="4" class="muted">No routes yet.</td></tr>` : null}
        ${hosts.map((host) => {
          const route = state.routes[host];
          const up = route.upstream ?? null;
          return html`<tr key=${host} data-host=${host}>
            <th scope="row">${host}</th>
            <td data-testid="upstream">${up !== null ? upstreamText(up) : `${route.rules?.length ?? 0} path rules`}</td>
            <td>${up !== null ? html`<${Targets} state=${state} upstream=${up} health=${health} />` : html`<span class="muted">per rule</span>`}</td>
            ${canWrite ? html`<td><${SwitchControl} host=${host} route=${route} pools=${pools} ask=${ask} api=${api} /></td>` : null}
          </tr>`;
        })}
      </tbody>
    </table>
  </section>`;
}
