/**
 * The status page's files, served by the region itself with no build step: the HTML, its script
 * modules and stylesheet (src/status/page/), and uPlot's browser build and stylesheet (the npm
 * package `uplot`, pinned in deno.json). Each is imported as text (`with { type: "text" }`,
 * stable in Deno 2.9), so the files travel inside the module graph: `deno bundle`, `deno
 * compile` and Deno Deploy carry them with no file-system read at run time.
 */
import html from "./page/index.html" with { type: "text" };
import css from "./page/status.css" with { type: "text" };
import statusJs from "./page/status.js" with { type: "text" };
import mapJs from "./page/map.js" with { type: "text" };
import chartsJs from "./page/charts.js" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/**
 * The page's Content-Security-Policy: scripts, styles and connections from the region only,
 * nothing inline, no frames, no forms. uPlot sets element styles through the CSSOM, which
 * `style-src 'self'` allows.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** One file of the page. */
export interface PageAsset {
  readonly body: string;
  readonly type: string;
  /** A strong validator of the body (FNV-1a of its text), for `If-None-Match`. */
  readonly etag: string;
}

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

function asset(body: string, type: string): PageAsset {
  return { body, type, etag: `"${fnv1a(body)}-${body.length.toString(16)}"` };
}

/** The page itself (`GET /`). */
export const STATUS_PAGE: PageAsset = asset(html, "text/html; charset=utf-8");

/** The files under `/assets/`, by name. */
export const STATUS_ASSETS: ReadonlyMap<string, PageAsset> = new Map([
  ["status.js", asset(statusJs, "text/javascript; charset=utf-8")],
  ["map.js", asset(mapJs, "text/javascript; charset=utf-8")],
  ["charts.js", asset(chartsJs, "text/javascript; charset=utf-8")],
  ["status.css", asset(css, "text/css; charset=utf-8")],
  ["uplot.min.js", asset(uplotJs, "text/javascript; charset=utf-8")],
  ["uplot.min.css", asset(uplotCss, "text/css; charset=utf-8")],
]);

/** The response serving `file`: 304 when `ifNoneMatch` names its ETag. */
export function assetResponse(file: PageAsset, ifNoneMatch: string | null): Response {
  const headers: Record<string, string> = {
    "etag": file.etag,
    // Revalidate every time: a region upgraded under an open page must not mix old and new files.
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  };
  if (file === STATUS_PAGE) {
    headers["content-security-policy"] = STATUS_PAGE_CSP;
    headers["referrer-policy"] = "no-referrer";
  }
  const tags = (ifNoneMatch ?? "").split(",").map((t) => t.trim());
  if (tags.includes(file.etag) || tags.includes("*")) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(file.body, { headers: { ...headers, "content-type": file.type } });
}
