import { Router } from "express";
import type { EventHub } from "../events/hub.js";
import { methodNotAllowed } from "./errors.js";
import { accepts } from "./query.js";

/**
 * Bytes a client may have queued (written, not yet taken by its socket) before it is dropped. A
 * burst of revisions is a few kilobytes; a client this far behind is not reading, and keeping its
 * backlog would let one stalled browser tab grow the controller's memory without bound.
 */
export const MAX_CLIENT_BUFFER = 256 * 1024;

/**
 * `GET /v1/events`: the live stream behind the dashboard (any token; read scope is enough), and
 * `GET /v1/whoami`: the token's name and scope, so a UI shows write controls only to write tokens.
 * The token travels in the Authorization header like everywhere else; the browser reads the
 * stream with fetch(), never EventSource, which cannot send headers and would put it in the URL.
 */
export function eventsApi({ events }: { events: EventHub }): Router {
  const r = Router();

  r.route("/v1/whoami")
    .get(accepts(), (req, res) => {
      res.json({ name: req.principal?.name, scope: req.principal?.scope });
    })
    .all(methodNotAllowed(["GET"]));

  r.route("/v1/events")
    .get(accepts(), (req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
      res.flushHeaders();
      // A first comment so clients (and tests) know the stream is attached to the hub.
      res.write(": connected\n\n");
      let done = false;
      const leave = events.add({
        send(text) {
          if (done) return true;
          if (res.writableLength > MAX_CLIENT_BUFFER) return false;
          res.write(text);
          return true;
        },
        drop(reason) {
          if (done) return;
          done = true;
          res.end(`event: bye\ndata: ${JSON.stringify({ reason })}\n\n`);
          // A client too slow to read would not read the end either: cut the socket.
          setTimeout(() => res.destroy(), 1000).unref();
        },
      });
      res.on("close", () => {
        done = true;
        leave();
      });
    })
    .all(methodNotAllowed(["GET"]));

  return r;
}
