// Builds the dashboard into the package's dist/ui (run by `pnpm build`): esbuild bundles
// ui/src/main.js with Preact and htm into one app.js; index.html and style.css are copied. Nothing
// is fetched at run time from anywhere but the controller (no CDN, no web fonts).
import { copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

const here = (p) => new URL(p, import.meta.url).pathname;
const out = here("../dist/ui/");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [here("src/main.js")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outfile: `${out}app.js`,
  logLevel: "warning",
});
for (const f of ["index.html", "style.css"]) copyFileSync(here(`static/${f}`), `${out}${f}`);
