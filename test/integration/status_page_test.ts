/**
 * The status page in a real headless Chromium, against three real region processes whose links
 * run through chaos proxies: the page of each side shows the three regions, a partition cut
 * through the proxies turns the affected links red within 2 s, and the heal turns them back.
 * Screenshots go to $MESH_TEST_OUTPUT/status_page (default test/output/status_page, ignored by
 * git); docs/images/status_page.png is one of them.
 *
 * Timings: the regions run at the default 250 ms heartbeat. A cut link is down once phi reaches
 * 8 (≈ 760 ms after the last answered heartbeat); the stream sends a snapshot within 250 ms of a
 * change; so red shows ≈ 1 s after the cut, and the test allows 2 s.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { Agent } from "../../src/client/agent.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { browserTest } from "../support/browser.ts";
import { TestMesh } from "../support/mesh_processes.ts";
import { startRegionProcess } from "../support/region_process.ts";

/**
 * The few DOM names the `page.evaluate` callbacks use. They run in the browser; declared here for
 * the type check only (a `lib="dom"` reference would change the globals of every checked file).
 */
interface PageElement {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
  readonly dataset: Record<string, string | undefined>;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  readonly body: PageElement;
};
declare function getComputedStyle(element: PageElement): { readonly stroke: string };

const THREE = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];
/** How soon after the cut the page must show the cut links red, in ms (the bound). */
const RED_WITHIN_MS = 2_000;
/** How soon after the heal the page must show them up again, in ms. */
const HEALED_WITHIN_MS = 5_000;
const OUTPUT = `${
  Deno.env.get("MESH_TEST_OUTPUT") ?? new URL("../output", import.meta.url).pathname
}/status_page`;

/** The state of each link on `page`'s map, keyed `a|b`. */
function linkStates(page: Page): Promise<Record<string, string | null>> {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll("#map path.link")].map((
        p,
      ) => [p.getAttribute("data-link"), p.getAttribute("data-state")]),
    )
  );
}

/** Waits until every link named in `want` shows that state on `page`; the elapsed ms. */
async function untilLinks(
  page: Page,
  want: Record<string, string>,
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  try {
    await page.waitForFunction(
      (want) =>
        Object.entries(want).every(([link, state]) =>
          document.querySelector(`#map path[data-link="${link}"]`)?.getAttribute("data-state") ===
            state
        ),
      want,
      { timeout: timeoutMs, polling: 25 },
    );
  } catch (error) {
    const shown = JSON.stringify(await linkStates(page));
    throw new Error(`links not ${JSON.stringify(want)} within ${timeoutMs} ms: ${shown}`, {
      cause: error,
    });
  }
  return performance.now() - started;
}

function strokeOf(page: Page, link: string): Promise<string> {
  return page.evaluate(
    (link) => getComputedStyle(document.querySelector(`#map path[data-link="${link}"]`)!).stroke,
    link,
  );
}

async function openPage(browser: Parameters<Parameters<typeof browserTest>[1]>[0], url: string) {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${url}/`);
  await page.waitForFunction(() => Number(document.body.dataset.snapshots ?? 0) >= 2);
  return { page, problems };
}

/** Pushes a delta to each region every 200 ms, so the charts have something to show. */
function traffic(mesh: TestMesh): { stop(): Promise<void> } {
  const agents = THREE.map(() => new Agent(AgentKey.generate()));
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      await Promise.all(THREE.map((r, j) =>
        new MeshClient(mesh.region(r.id).url).push([
          agents[j].sign("status.demo", [{ op: "inc", counter: r.id, by: 1 }]),
        ]).catch(() => undefined)
      ));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

browserTest(
  "the status page shows three regions; a partition turns the cut links red within 2 s and the heal turns them back",
  async (browser) => {
    await Deno.mkdir(OUTPUT, { recursive: true });
    const mesh = await TestMesh.start({ regions: THREE });
    const load = traffic(mesh);
    try {
      await mesh.untilEvery("everyone reaches everyone", (s) => s.reachable.length === 3, 15_000);
      // eu-2 is on the majority side of the cut below; eu-1 is cut off.
      const major = await openPage(browser, mesh.region("eu-2").url);
      const minor = await openPage(browser, mesh.region("eu-1").url);
      const nodes = await major.page.$$eval("#map g.node", (g) => g.map((n) => n.dataset.region));
      assert.deepEqual(nodes, ["eu-1", "eu-2", "us-1"]);
      // Seen from eu-2: it heartbeats eu-1 (measured); us-1 it does not (eu-1 leads zone eu),
      // and eu-1's fresh summary says eu-1 reaches us-1 (reported).
      await untilLinks(major.page, {
        "eu-1|eu-2": "up",
        "eu-1|us-1": "up",
        "eu-2|us-1": "not monitored",
      }, 10_000);
      await untilLinks(minor.page, { "eu-1|eu-2": "up", "eu-1|us-1": "up" }, 10_000);
      await new Promise((r) => setTimeout(r, 3_000)); // some throughput and lag on the charts
      await major.page.screenshot({ path: `${OUTPUT}/1-healthy-eu-2.png`, fullPage: true });

      mesh.partition([["eu-1"], ["eu-2", "us-1"]]);
      const [majorMs, minorMs] = await Promise.all([
        untilLinks(major.page, { "eu-1|eu-2": "down", "eu-1|us-1": "down" }, RED_WITHIN_MS),
        untilLinks(minor.page, { "eu-1|eu-2": "down", "eu-1|us-1": "down" }, RED_WITHIN_MS),
      ]);
      console.log(
        `cut links red after ${majorMs.toFixed(0)} ms on eu-2's page, ${
          minorMs.toFixed(0)
        } ms on eu-1's`,
      );
      assert.equal(await strokeOf(major.page, "eu-1|eu-2"), "rgb(214, 59, 59)");
      assert.equal(await strokeOf(minor.page, "eu-1|us-1"), "rgb(214, 59, 59)");
      await minor.page.waitForFunction(() =>
        document.querySelector(".map-banner")?.textContent?.includes("MINORITY")
      );
      assert.match(await minor.page.textContent("#partition") ?? "", /^minority/);
      // eu-2 now leads zone eu in its own view and heartbeats us-1 itself.
      await untilLinks(major.page, { "eu-2|us-1": "up" }, 5_000);
      await major.page.screenshot({ path: `${OUTPUT}/2-partitioned-eu-2.png`, fullPage: true });
      await minor.page.screenshot({ path: `${OUTPUT}/2-partitioned-eu-1.png`, fullPage: true });

      mesh.heal();
      const healMs = await untilLinks(
        major.page,
        { "eu-1|eu-2": "up", "eu-1|us-1": "up" },
        HEALED_WITHIN_MS,
      );
      await untilLinks(minor.page, { "eu-1|eu-2": "up", "eu-1|us-1": "up" }, HEALED_WITHIN_MS);
      console.log(`links up again ${healMs.toFixed(0)} ms after the heal`);
      assert.equal(await strokeOf(major.page, "eu-1|eu-2"), "rgb(31, 157, 85)");
      await minor.page.waitForFunction(() =>
        document.querySelector(".map-banner")?.textContent === ""
      );
      await major.page.screenshot({ path: `${OUTPUT}/3-healed-eu-2.png`, fullPage: true });
      assert.deepEqual([...major.problems, ...minor.problems], [], "no script or CSP errors");
    } finally {
      await load.stop();
      await mesh.stop();
    }
  },
);

browserTest(
  "the status page of a standalone region shows it alone, live, with no script or CSP errors",
  async (browser) => {
    const dir = await Deno.makeTempDir({ prefix: "mesh-status-page-" });
    const region = await startRegionProcess({ MESH_DATA: dir });
    try {
      const { page, problems } = await openPage(browser, region.url);
      const nodes = await page.$$eval("#map g.node", (g) => g.map((n) => n.dataset.region));
      assert.deepEqual(nodes, ["local"]);
      assert.equal(await page.textContent("#partition"), "standalone");
      assert.equal(await page.textContent("#connection"), "live");
      assert.match(await page.textContent("#peers") ?? "", /standalone region has no peers/);
      assert.deepEqual(problems, []);
    } finally {
      await region.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
