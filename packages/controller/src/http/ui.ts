import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Router, type Response } from "express";
import { ApiError, methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";

/**
 * Where `pnpm build` puts the dashboard (ui/build.mjs, esbuild): the package's dist/ui, found the
 * same way from src/http (tests, via tsx) and from dist/http (the built controller).
 */
export const UI_DIR = fileURLToPath(new URL("../../dist/ui/", import.meta.url));

/** The only files served: a fixed list, so no request path ever reaches the file system. */
const FILES = new Map<string, string>([
  ["index.html", "text/html; charset=utf-8"],
  ["app.js", "text/javascript; charset=utf-8"],
  ["style.css", "text/css; charset=utf-8"],
]);

/**
 * No inline script or style, nothing from another origin: the page talks only to this controller.
 * `style-src 'self'` still lets scripts set element styles through the DOM (not inline attributes).
 */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function headers(res: Response, type: string): void {
  res.setHeader("content-type", type);
  res.setHeader("content-security-policy", CSP);
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("referrer-policy", "no-referrer");
  res.setHeader("x-frame-options", "DENY");
  // Rebuilt assets keep their names: revalidate every time (they are small).
  res.setHeader("cache-control", "no-cache");
}

/** `GET /ui/` and its two assets, unauthenticated: they hold no data; the page asks for a token. */
export function uiApi(dir = UI_DIR): Router {
  const cache = new Map<string, Buffer>();
  const serve = (name: string) => async (_req: unknown, res: Response) => {
    const type = FILES.get(name) as string;
    let body = cache.get(name);
    if (!body) {
      try {
        body = await readFile(dir + name);
      } catch {
        throw new ApiError(503, "ui_not_built", "the dashboard is not built: run pnpm build");
      }
      cache.set(name, body);
    }
    headers(res, type);
    res.send(body);
  };
  const r = Router();
  // Non-strict routing: this also answers `/ui`; the page names its assets by absolute path.
  r.route("/ui/").get(accepts(), serve("index.html")).all(methodNotAllowed(["GET"]));
  for (const name of FILES.keys()) r.route(`/ui/${name}`).get(accepts(), serve(name)).all(methodNotAllowed(["GET"]));
  return r;
}
