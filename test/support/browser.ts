/**
 * A real headless Chromium (Debian's `chromium` package) driven by `playwright-core`, for tests
 * of what a browser agent sees. Nothing is downloaded at run time: the browser is the system's.
 *
 * Whether the binary exists is decided once, at module load, so tests can be registered as
 * ignored (and counted as skipped) when it is missing. With `MESH_REQUIRE_BROWSER=1` a missing
 * binary is an error instead: CI sets it so browser tests can never be skipped silently.
 */
import { type BrowserContext, chromium } from "playwright-core";

/** Where Debian's `chromium` package puts the browser; `MESH_CHROMIUM_BIN` overrides it. */
export const CHROMIUM_PATH_DEFAULT = "/usr/bin/chromium";
/**
 * Flags of a quiet, throwaway browser: no sandbox (tests run as root in CI), no GPU, and none of
 * the background traffic (updates, sync, first-run pages) a fresh profile would start.
 */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
/** How long the browser may take to start, in milliseconds. */
const LAUNCH_MS_MAX = 30_000;

async function findChromium(): Promise<string | null> {
  const path = Deno.env.get("MESH_CHROMIUM_BIN") ?? CHROMIUM_PATH_DEFAULT;
  try {
    return (await Deno.stat(path)).isFile ? path : null;
  } catch {
    return null;
  }
}

/** Absolute path of the browser, or null when it is not installed. */
export const CHROMIUM_PATH: string | null = await findChromium();
/** True when the browser is installed and browser tests run. */
export const browserAvailable: boolean = CHROMIUM_PATH !== null;

if (!browserAvailable) {
  if (Deno.env.get("MESH_REQUIRE_BROWSER") === "1") {
    throw new Error(
      "Cannot run browser tests as /usr/bin/chromium is not installed and MESH_REQUIRE_BROWSER=1: " +
        "install the Debian package chromium",
    );
  }
  console.error(
    "WARNING: chromium not installed — browser tests are SKIPPED (install the Debian package chromium)",
  );
}

/**
 * Registers a test that gets a fresh headless browser context (its own user-data-dir, removed
 * after); ignored, and counted as skipped, when the browser is not installed.
 */
export function browserTest(
  name: string,
  fn: (browser: BrowserContext, t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !browserAvailable,
    // Playwright keeps its pipe to the browser and timers of its own while the context lives.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const profile = await Deno.makeTempDir({ prefix: "mesh-chromium-" });
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM_PATH!,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: LAUNCH_MS_MAX,
      });
      try {
        await fn(browser, t);
      } finally {
        await browser.close();
        await Deno.remove(profile, { recursive: true }).catch(() => {});
      }
    },
  });
}
