import { useState } from "preact/hooks";
import { html } from "./html.js";

const show = (v) => (v === null || v === undefined ? "(absent)" : JSON.stringify(v));

/** What each op changed: the log keeps the value before (`before`, when recorded) and the op itself. */
function opLines(detail) {
  return detail.ops.map((op, i) => {
    const target = op.op.startsWith("pool") ? `pool ${op.name}` : op.op.startsWith("route") ? `route ${op.host}` : "default upstream";
    const after = op.op.endsWith(".del") ? null : (op.pool ?? op.route ?? op.upstream ?? null);
    const before = Array.isArray(detail.before) ? detail.before[i] : undefined;
    return { target, before: before === undefined ? "(not recorded)" : show(before), after: show(after) };
  });
}

function Diff({ detail }) {
  if (!detail) return html`<p class="muted">Loading…</p>`;
  if (detail.error) return html`<p class="error">${detail.error}</p>`;
  return html`<table class="grid small diff">
    <thead><tr><th scope="col">What</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
    <tbody>${opLines(detail).map((l, i) => html`<tr key=${i}><td>${l.target}</td><td class="before"><code>${l.before}</code></td><td class="after"><code>${l.after}</code></td></tr>`)}</tbody>
  </table>`;
}

/** Revision history, newest first: each change's diff on demand, and rollback for write tokens. */
export function History({ revisions, current, canWrite, ask, api }) {
  const [open, setOpen] = useState(new Map());
  const toggle = async (rev) => {
    const next = new Map(open);
    if (next.has(rev)) {
      next.delete(rev);
      setOpen(next);
      return;
    }
    next.set(rev, null);
    setOpen(next);
    let detail;
    try {
      detail = await api("GET", `/v1/revisions/${rev}`);
    } catch (err) {
      detail = { error: err.message };
    }
    setOpen((m) => (m.has(rev) ? new Map(m).set(rev, detail) : m));
  };
  return html`<section aria-labelledby="history-h" class="card">
    <h2 id="history-h">Revision history</h2>
    <ol class="history" data-testid="history">
      ${revisions.map((r) => html`<li key=${r.revision} data-revision=${r.revision}>
        <div class="row">
          <span class="rev">#${r.revision}</span>
          <span class="muted">${new Date(r.at).toLocaleTimeString()}</span>
          <span class="actor">${r.actor}</span>
          <span class="summary">${r.summary}</span>
          <button type="button" aria-expanded=${open.has(r.revision)} onClick=${() => toggle(r.revision)}>${open.has(r.revision) ? "Hide diff" : "Diff"}</button>
          ${canWrite && r.revision !== current
            ? html`<button type="button" class="danger" data-write="rollback" onClick=${() =>
                ask({
                  title: `Roll back to revision ${r.revision}`,
                  detail: `Write one new revision whose state equals the state at revision ${r.revision}.`,
                  run: async () => {
                    const a = await api("POST", "/v1/rollback", { to: r.revision });
                    return a.changed === false ? `Already at the state of ${r.revision}` : `Rolled back to ${r.revision} (revision ${a.revision})`;
                  },
                })}>Roll back to #${r.revision}</button>`
            : null}
        </div>
        ${open.has(r.revision) ? html`<${Diff} detail=${open.get(r.revision)} />` : null}
      </li>`)}
    </ol>
  </section>`;
}
