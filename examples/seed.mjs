#!/usr/bin/env node
// Seeds the demo topology through the controller's public API: pools blue and green (two
// instances each) and demo.local -> blue. Used by `pnpm demo` and by the compose `seed` service,
// so both start from the same state. Safe to run twice: PUTs are idempotent.
//   CONTROLLER_URL=http://127.0.0.1:7070 TOKEN=... BLUE=127.0.0.1:3001,127.0.0.1:3002 GREEN=... node examples/seed.mjs

export async function seed({ url, token, blue, green, host = "demo.local", attempts = 60 }) {
  const call = async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  for (let i = 1; ; i++) {
    try {
      const ready = await fetch(`${url}/readyz`);
      if (ready.ok) break;
    } catch {
      // not listening yet
    }
    if (i >= attempts) throw new Error(`controller at ${url} not ready`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const pool = (list) => ({ targets: list.map((address) => ({ address })), keepalive: 16 });
  await call("PUT", "/v1/pools/blue", pool(blue));
  await call("PUT", "/v1/pools/green", pool(green));
  return call("PUT", `/v1/routes/${host}`, { upstream: "blue" });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const list = (s) => (s ?? "").split(",").map((x) => x.trim()).filter(Boolean);
  const url = process.env.CONTROLLER_URL ?? "http://127.0.0.1:7070";
  const token = process.env.TOKEN ?? "";
  try {
    const result = await seed({ url, token, blue: list(process.env.BLUE), green: list(process.env.GREEN) });
    // The compose seed's log is where a user finds how to talk to the fleet.
    console.log(`seeded demo.local -> blue at revision ${result.revision}
  controller: ${process.env.PUBLIC_CONTROLLER_URL ?? url}
  token:      ${token}
  export SWITCHYARD_URL=${process.env.PUBLIC_CONTROLLER_URL ?? url} SWITCHYARD_TOKEN=${token}`);
  } catch (err) {
    console.error(`seed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
}
