/**
 * The status feature's routes (docs/protocol.md §12.6, §12.6.1): the stream
 * `GET /v1/status/stream`, the page `GET /` and its files `GET /assets/{file}`, as a region route
 * group; and {@linkcode statusAnswer}, what `GET /v1/status` answers (the region app serves that
 * route and calls it). No route takes query parameters; each checks `Accept`.
 */
import { type Context, Hono } from "hono";
import { allowOnly } from "../region/app.ts";
import type { RegionDeps } from "../region/deps.ts";
import { Problem } from "../region/problem.ts";
import { refuseUnknownQuery, requireAccept } from "./accept.ts";
import type { StatusBoard } from "./board.ts";
import type { StatusDocument } from "./document.ts";
import { assetResponse, STATUS_ASSETS, STATUS_PAGE } from "./page.ts";

const ROUTES: [string, string][] = [
  ["/v1/status/stream", "GET"],
  ["/", "GET"],
  ["/assets/:file", "GET"],
];

/** `GET /v1/status`: the document, after the request's query and `Accept` are checked. */
export function statusAnswer(board: StatusBoard, c: Context): Promise<StatusDocument> {
  refuseUnknownQuery(c.req.url);
  requireAccept(c.req.header("accept") ?? null, "application/json");
  return board.document();
}

/** The stream, page and page files over `board`, as a region route group. */
export function statusRoutes(board: StatusBoard): (deps: RegionDeps) => Hono {
  return (deps) => {
    const app = new Hono();
    app.get("/v1/status/stream", (c) => {
      refuseUnknownQuery(c.req.url);
      requireAccept(c.req.header("accept") ?? null, "text/event-stream");
      return board.feed.open(deps.clientAddress(c), c.req.raw.signal);
    });
    app.get("/", (c) => {
      refuseUnknownQuery(c.req.url);
      requireAccept(c.req.header("accept") ?? null, "text/html");
      return assetResponse(STATUS_PAGE, c.req.header("if-none-match") ?? null);
    });
    app.get("/assets/:file", (c) => {
      refuseUnknownQuery(c.req.url);
      const name = c.req.param("file");
      const file = STATUS_ASSETS.get(name);
      if (file === undefined) {
        throw new Problem("not-found", `No asset ${JSON.stringify(name.slice(0, 64))}`);
      }
      return assetResponse(file, c.req.header("if-none-match") ?? null);
    });
    for (const [path, allow] of ROUTES) allowOnly(app, path, allow);
    return app;
  };
}
