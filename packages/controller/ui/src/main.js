import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { Agents } from "./agents.js";
import { api as call, follow, forgetToken, saveToken, savedToken } from "./api.js";
import { Confirm } from "./confirm.js";
import { Cutovers } from "./cutovers.js";
import { History } from "./history.js";
import { html } from "./html.js";
import { Routes } from "./routes.js";
import { Login } from "./login.js";

// The pool-health endpoint as the OpenAPI document names it, whatever its parameter is called.
const HEALTH_PATH = /^\/v1\/pools\/\{[^}]+\}\/health$/;
// Last-seen times and lags drift without events: re-read the fleet this often anyway.
const FLEET_REFRESH_MS = 3000;

/**
 * Pool health is shown once the controller has the endpoint: its own OpenAPI document says so,
 * so an older controller is never asked (no 404 on every refresh).
 */
async function hasHealth() {
  try {
    const doc = await (await fetch("/v1/openapi.json", { cache: "no-store" })).json();
    return Object.keys(doc?.paths ?? {}).some((p) => HEALTH_PATH.test(p) && doc.paths[p].get);
  } catch {
    return false;
  }
}

function Dashboard({ token, me, onLogout }) {
  const api = useCallback((method, path, body) => call(token, method, path, body), [token]);
  const [state, setState] = useState(null);
  const [agents, setAgents] = useState([]);
  const [cutovers, setCutovers] = useState([]);
  const [revisions, setRevisions] = useState([]);
  const [health, setHealth] = useState(new Map());
  const [live, setLive] = useState(false);
  const [ask, setAsk] = useState(null);
  const [notice, setNotice] = useState(null);
  const [now, setNow] = useState(Date.now());
  const healthOn = useRef(false);
  const canWrite = me.scope === "write";

  const loadState = useCallback(async () => {
    const [s, revs] = await Promise.all([api("GET", "/v1/state"), api("GET", "/v1/revisions?limit=15")]);
    setState(s);
    setRevisions(revs);
    if (healthOn.current) {
      const reports = await Promise.all(Object.keys(s.pools).map(async (p) => [p, await api("GET", `/v1/pools/${encodeURIComponent(p)}/health`).catch(() => null)]));
      setHealth(new Map(reports));
    }
  }, [api]);
  const loadAgents = useCallback(async () => setAgents(await api("GET", "/v1/agents")), [api]);
  const loadCutovers = useCallback(async () => setCutovers(await api("GET", "/v1/cutovers")), [api]);

  useEffect(() => {
    const ctl = new AbortController();
    const quiet = (p) => p.catch(() => undefined);
    void (async () => {
      healthOn.current = await hasHealth();
      await Promise.all([quiet(loadState()), quiet(loadAgents()), quiet(loadCutovers())]);
    })();
    // Events say what changed; the dashboard re-reads the thing itself (events are hints).
    void follow(
      token,
      ctl.signal,
      (name, data) => {
        if (name === "revision") void quiet(loadState());
        else if (name === "ack") setAgents((list) => list.map((a) => (a.id === data.agent && data.revision > a.revision ? { ...a, revision: data.revision, appliedAt: data.appliedAt } : a)));
        else if (name === "agent-join" || name === "agent-leave") void quiet(loadAgents());
        else if (name === "cutover") setCutovers((list) => [data, ...list.filter((c) => c.id !== data.id)].sort((a, b) => b.createdAt.localeCompare(a.createdAt)));
      },
      (up) => {
        setLive(up);
        // After a drop, whatever happened meanwhile is read again.
        if (up) void Promise.all([quiet(loadState()), quiet(loadAgents()), quiet(loadCutovers())]);
      },
    );
    const tick = setInterval(() => {
      setNow(Date.now());
      void quiet(loadAgents());
    }, FLEET_REFRESH_MS);
    return () => {
      ctl.abort();
      clearInterval(tick);
    };
  }, [token]);

  const revisionAt = revisions[0] && state && revisions[0].revision === state.revision ? Date.parse(revisions[0].at) : null;
  return html`<div class="page">
    <header class="top">
      <h1>Switchyard</h1>
      <span class=${`badge ${live ? "good" : "bad"}`} data-testid="live" role="status">${live ? "live" : "reconnecting"}</span>
      <span class="who">${me.name} · <span data-testid="scope">${me.scope}</span>${canWrite ? "" : " (read-only)"}</span>
      <button type="button" onClick=${onLogout}>Sign out</button>
    </header>
    <p class="notice" role="status" aria-live="polite">${notice ? html`<span class=${notice.ok ? "" : "error"}>${notice.text}</span>` : null}</p>
    ${state === null
      ? html`<p class="muted">Loading…</p>`
      : html`<main>
          <div class="cols">
            <${Routes} state=${state} health=${health} canWrite=${canWrite} ask=${setAsk} api=${api} />
            <${Agents} agents=${agents} state=${state} revisionAt=${revisionAt} now=${now} />
          </div>
          <${Cutovers} cutovers=${cutovers} state=${state} fleet=${agents.length} canWrite=${canWrite} ask=${setAsk} api=${api} />
          <${History} revisions=${revisions} current=${state.revision} canWrite=${canWrite} ask=${setAsk} api=${api} />
        </main>`}
    ${canWrite ? html`<${Confirm} ask=${ask} onDone=${(m) => { setAsk(null); if (m) setNotice(m); }} />` : null}
  </div>`;
}

function App() {
  const [session, setSession] = useState(null);
  const [checking, setChecking] = useState(Boolean(savedToken()));
  const signIn = useCallback(async (token) => {
    const me = await call(token, "GET", "/v1/whoami");
    saveToken(token);
    setSession({ token, me });
  }, []);
  useEffect(() => {
    const t = savedToken();
    if (t) signIn(t).catch(() => forgetToken()).finally(() => setChecking(false));
  }, []);
  if (checking) return html`<p class="muted">Signing in…</p>`;
  if (!session) return html`<${Login} signIn=${signIn} />`;
  return html`<${Dashboard} token=${session.token} me=${session.me} onLogout=${() => { forgetToken(); setSession(null); }} />`;
}

const root = document.getElementById("app");
// The static "Loading" text is not Preact's: clear it, or render would keep it beside the app.
root.textContent = "";
render(html`<${App} />`, root);
