import { useState } from "preact/hooks";
import { html } from "./html.js";

/** The token form: the token is checked with GET /v1/whoami, then kept in sessionStorage only. */
export function Login({ signIn }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const token = new FormData(e.currentTarget).get("token")?.toString().trim() ?? "";
    if (!token) return setError("Enter an API token.");
    setBusy(true);
    setError(null);
    try {
      await signIn(token);
    } catch (err) {
      setError(err.status === 401 ? "The controller does not know this token." : `Could not sign in: ${err.message}`);
      setBusy(false);
    }
  };
  return html`<main class="login">
    <h1>Switchyard</h1>
    <form onSubmit=${submit} aria-label="Sign in">
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" required autofocus />
      <p class="muted">A read token shows the fleet; a write token can also switch, cut over and roll back. The token stays in this tab only.</p>
      <button type="submit" disabled=${busy}>Sign in</button>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    </form>
  </main>`;
}
