import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";

/**
 * The confirmation every write goes through: a modal <dialog> (focus moves into it, Escape
 * cancels, Tab stays inside) naming exactly what will be written.
 * `ask` is { title, detail, run: async () => message }.
 */
export function Confirm({ ask, onDone }) {
  const ref = useRef(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (ask && ref.current && !ref.current.open) ref.current.showModal();
  }, [ask]);
  if (!ask) return null;
  const close = (message) => {
    ref.current?.close();
    setBusy(false);
    onDone(message);
  };
  const confirm = async () => {
    setBusy(true);
    try {
      close({ ok: true, text: (await ask.run()) ?? `${ask.title}: done` });
    } catch (err) {
      close({ ok: false, text: `${ask.title} failed: ${err.message}` });
    }
  };
  return html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-title" onCancel=${(e) => { e.preventDefault(); close(null); }}>
    <h2 id="confirm-title">${ask.title}</h2>
    <p>${ask.detail}</p>
    <div class="actions">
      <button type="button" onClick=${() => close(null)} disabled=${busy}>Cancel</button>
      <button type="button" class="danger" onClick=${confirm} disabled=${busy} autofocus>Confirm</button>
    </div>
  </dialog>`;
}
