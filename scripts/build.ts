/**
 * `deno task build [deno|workerd|vercel …]`: one JavaScript file per runtime, bundled by
 * `deno bundle` (Deno's esbuild-based bundler, which resolves deno.json's `npm:` imports and the
 * status page's text imports), into dist/:
 *
 * - dist/deno.js    from functions/region.ts, for Deno (`deno serve dist/deno.js`, Deno Deploy);
 * - dist/workerd.js from functions/workerd.ts, for Cloudflare Workers (deploy/cloudflare/);
 * - dist/vercel.js  from functions/vercel.ts, for Vercel Edge, and beside it the Build Output
 *   directory dist/vercel/.vercel/output (deploy/vercel/) for `vercel deploy --prebuilt`.
 *
 * docs/deploy.md says what to do with each.
 */

import { REGION_CONFIG_VARIABLES } from "../src/compose/config.ts";

const ROOT = new URL("../", import.meta.url);

export type Target = "deno" | "workerd" | "vercel";

/** Each target's entrypoint and the platform `deno bundle` resolves packages for. */
export const TARGETS: Record<Target, { entry: string; platform: "deno" | "browser" }> = {
  deno: { entry: "functions/region.ts", platform: "deno" },
  workerd: { entry: "functions/workerd.ts", platform: "browser" },
  vercel: { entry: "functions/vercel.ts", platform: "browser" },
};

/** Bundles `target` into the file `out` (a path); throws with deno bundle's output on failure. */
export async function bundle(target: Target, out: string): Promise<void> {
  const { entry, platform } = TARGETS[target];
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", `--platform=${platform}`, "--format=esm", "-o", out, entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const output = new TextDecoder().decode(result.stderr) +
      new TextDecoder().decode(result.stdout);
    throw new Error(`Cannot bundle ${entry} for ${target}: deno bundle failed\n${output}`);
  }
}

/**
 * Vercel's Build Output API v3 around the bundle: `<dir>/.vercel/output/config.json` (every path
 * to the function, and the cron) and `functions/region.func/` (the bundle and its
 * `.vc-config.json` with the variables the region reads), from deploy/vercel/. A
 * `.vercel/project.json` from `vercel link` is kept.
 */
export async function vercelOutput(bundleFile: string, dir: string): Promise<void> {
  const output = `${dir}/.vercel/output`;
  await Deno.remove(output, { recursive: true }).catch(() => {});
  const func = `${output}/functions/region.func`;
  await Deno.mkdir(func, { recursive: true });
  await Deno.copyFile(new URL("deploy/vercel/config.json", ROOT), `${output}/config.json`);
  // Vercel gives an Edge Function the variables its config names: every one a region reads.
  const vc = JSON.parse(await Deno.readTextFile(new URL("deploy/vercel/vc-config.json", ROOT)));
  vc.envVarsInUse = [...REGION_CONFIG_VARIABLES];
  await Deno.writeTextFile(`${func}/.vc-config.json`, JSON.stringify(vc, null, 2) + "\n");
  await Deno.copyFile(bundleFile, `${func}/index.js`);
}

if (import.meta.main) {
  const asked = Deno.args.length === 0 ? Object.keys(TARGETS) : Deno.args;
  const unknown = asked.filter((t) => !(t in TARGETS));
  if (unknown.length > 0) {
    console.error(`Cannot build ${unknown.join(", ")}: the targets are deno, workerd and vercel`);
    Deno.exit(2);
  }
  const dist = new URL("dist/", ROOT).pathname;
  await Deno.mkdir(dist, { recursive: true });
  for (const target of asked as Target[]) {
    const out = `${dist}${target}.js`;
    await bundle(target, out);
    if (target === "vercel") await vercelOutput(out, `${dist}vercel`);
    const { size } = await Deno.stat(out);
    console.log(`dist/${target}.js  ${(size / 1024).toFixed(0)} KiB  (${TARGETS[target].entry})`);
  }
}
