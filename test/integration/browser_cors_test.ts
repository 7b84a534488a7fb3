/**
 * A real browser calls a real region process across origins: a page served from one loopback
 * port `fetch`es the region on another, with `MESH_CORS_ORIGINS` naming the page's origin. The
 * browser enforces CORS itself, so this is what a browser agent gets: it reads `GET /v1/channels`
 * and a 4xx problem body, pushes with a preflighted request, and a page from an origin the region
 * does not allow is refused by the browser.
 */
import assert from "node:assert/strict";
import { startRegionProcess } from "../support/region_process.ts";
import type { Page } from "playwright-core";
import { browserTest } from "../support/browser.ts";
import { testAgent } from "../support/signing.ts";

/** A tiny static server of one page on a free loopback port; its origin is the page's. */
function servePage(): { origin: string; close(): Promise<void> } {
  const html = "<!doctype html><title>browser agent</title><p>agent</p>";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
  return { origin: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

interface Answer {
  readonly ok: boolean;
  readonly status?: number;
  readonly type?: string | null;
  readonly body?: unknown;
  readonly error?: string;
}

/** A request the page makes with `fetch`. */
interface PageRequest {
  readonly url: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** What the page gets from `fetch`, read in the page (a network error as `error`). */
async function ask(page: Page, request: PageRequest): Promise<Answer> {
  return await page.evaluate(async ({ url, ...init }) => {
    try {
      const response = await fetch(url, init);
      return {
        ok: true,
        status: response.status,
        type: response.headers.get("content-type"),
        body: await response.json(),
      };
    } catch (error) {
      return { ok: false, error: String(error) };
    }
  }, request);
}

browserTest(
  "a browser page from an allowed origin lists channels, reads a problem body and pushes; another origin is refused",
  async (browser) => {
    const allowed = servePage(), other = servePage();
    const dir = await Deno.makeTempDir({ prefix: "mesh-browser-" });
    const region = await startRegionProcess({
      MESH_DATA: dir,
      MESH_CORS_ORIGINS: allowed.origin,
    });
    try {
      const agent = testAgent();
      const push = await fetch(`${region.url}/v1/deltas`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          deltas: [
            agent.sign("beta", [{ op: "set", key: "k", value: 1 }]),
            agent.sign("alpha", [{ op: "inc", counter: "n", by: 1 }]),
            agent.sign("alpha", [{ op: "inc", counter: "n", by: 2 }]),
          ],
        }),
      });
      assert.equal(push.status, 200);
      await push.body?.cancel();

      const page = await browser.newPage();
      await page.goto(allowed.origin);
      const list = await ask(page, { url: `${region.url}/v1/channels` });
      assert.deepEqual(list, {
        ok: true,
        status: 200,
        type: "application/json",
        body: {
          channels: [{ channel: "alpha", deltas: 2 }, { channel: "beta", deltas: 1 }],
          cursor: null,
        },
      });

      const bad = await ask(page, { url: `${region.url}/v1/channels?limit=0` });
      assert.equal(bad.status, 400);
      assert.equal(bad.type, "application/problem+json");
      assert.equal((bad.body as { type: string }).type, "urn:mesh:problem:invalid-request");

      // A JSON push with a signed-request header is not a simple request: the browser sends a
      // preflight first, and sends the push only when the preflight allows it.
      const preflighted = await ask(page, {
        url: `${region.url}/v1/deltas`,
        method: "POST",
        headers: { "content-type": "application/json", "signature-input": 'sig1=("@method")' },
        body: JSON.stringify({ deltas: [] }),
      });
      assert.deepEqual(preflighted, {
        ok: true,
        status: 200,
        type: "application/json",
        body: { results: [] },
      });

      const refused = await browser.newPage();
      await refused.goto(other.origin);
      const denied = await ask(refused, { url: `${region.url}/v1/channels` });
      assert.equal(denied.ok, false, `expected a CORS refusal, got ${JSON.stringify(denied)}`);
      assert.match(denied.error!, /TypeError/);
    } finally {
      await region.stop();
      await Promise.all([allowed.close(), other.close()]);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
