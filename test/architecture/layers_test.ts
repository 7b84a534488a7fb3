/**
 * The house rules of `src/` (issue 9), checked on the source text so they stay true: which
 * folder may import which, no import cycle among files, and no file or room grown too big.
 */
import assert from "node:assert/strict";

const SRC = new URL("../../src/", import.meta.url);

/** Most lines one file in `src/` may have. */
const FILE_LINES_MAX = 450;
/** Files run as programs, not used as modules: no mod.ts need re-export them. */
const ENTRY_POINTS = ["client/cli.ts"];
/** Most lines `src/region/` may hold in all. */
const REGION_LINES_MAX = 2_000;

/**
 * The folders each folder of `src/` may import from (besides itself). Arrows point down: the
 * pure core at the bottom, the composition root above it, the runtimes' adapters on top, the
 * agent SDK beside it all.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  protocol: ["crypto"],
  crypto: ["protocol"],
  telemetry: [],
  crdt: ["protocol", "crypto"],
  sync: ["protocol", "crypto"],
  store: ["protocol", "crypto"],
  guard: ["protocol", "crypto", "crdt", "store", "telemetry"],
  views: ["protocol", "crypto", "crdt", "store", "guard", "telemetry"],
  region: ["protocol", "crypto", "crdt", "store", "guard", "views", "telemetry"],
  mesh: ["protocol", "crypto", "crdt", "sync", "store", "guard", "views", "region", "telemetry"],
  registry: ["protocol", "crypto", "crdt", "store", "guard", "views", "region", "telemetry"],
  topics: ["protocol", "crypto", "store", "guard", "views", "region", "telemetry"],
  mailbox: ["protocol", "crypto", "store", "guard", "views", "region", "telemetry"],
  proposals: ["protocol", "crypto", "crdt", "store", "guard", "views", "region", "telemetry"],
  blobs: ["protocol", "crypto", "crdt", "store", "guard", "views", "region", "telemetry"],
  status: [
    "protocol",
    "crypto",
    "store",
    "guard",
    "views",
    "region",
    "mesh",
    "registry",
    "telemetry",
  ],
  compose: [
    "protocol",
    "crypto",
    "crdt",
    "sync",
    "store",
    "guard",
    "views",
    "region",
    "mesh",
    "registry",
    "topics",
    "mailbox",
    "proposals",
    "blobs",
    "status",
    "telemetry",
  ],
  client: ["protocol", "crypto", "crdt"],
  adapters: [
    "protocol",
    "crypto",
    "crdt",
    "sync",
    "store",
    "guard",
    "views",
    "region",
    "mesh",
    "registry",
    "topics",
    "mailbox",
    "proposals",
    "blobs",
    "status",
    "telemetry",
    "compose",
  ],
};

interface SourceFile {
  readonly path: string; // relative to src/, e.g. "region/app.ts"
  readonly lines: number;
  readonly imports: string[]; // resolved, relative to src/
}

async function sources(): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for await (const folder of Deno.readDir(SRC)) {
    if (!folder.isDirectory) continue;
    for await (const entry of Deno.readDir(new URL(`${folder.name}/`, SRC))) {
      if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
      const path = `${folder.name}/${entry.name}`;
      const text = await Deno.readTextFile(new URL(path, SRC));
      const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map((m) =>
        new URL(m[1], new URL(path, SRC)).href.slice(SRC.href.length)
      );
      out.push({ path, lines: text.split("\n").length, imports });
    }
  }
  return out;
}

const folderOf = (path: string) => path.split("/")[0];

Deno.test("src/ folders import only the folders below them", async () => {
  const wrong: string[] = [];
  for (const file of await sources()) {
    const from = folderOf(file.path);
    const allowed = MAY_IMPORT[from];
    assert.ok(allowed !== undefined, `src/${from}/ is not in the layer table`);
    for (const target of file.imports) {
      const to = folderOf(target);
      if (to !== from && !allowed.includes(to)) wrong.push(`src/${file.path} → src/${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("src/ files starting with _ are imported only from their own folder", async () => {
  const wrong: string[] = [];
  for (const file of await sources()) {
    for (const target of file.imports) {
      const name = target.split("/").at(-1)!;
      if (name.startsWith("_") && folderOf(target) !== folderOf(file.path)) {
        wrong.push(`src/${file.path} → src/${target}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("each folder of src/ has a mod.ts that re-exports every public file of the folder", async () => {
  const missing: string[] = [];
  const files = await sources();
  for (const folder of new Set(files.map((f) => folderOf(f.path)))) {
    const mod = files.find((f) => f.path === `${folder}/mod.ts`);
    if (mod === undefined) {
      missing.push(`src/${folder}/mod.ts`);
      continue;
    }
    for (const file of files) {
      const name = file.path.split("/")[1];
      if (folderOf(file.path) !== folder || name === "mod.ts" || name.startsWith("_")) continue;
      if (ENTRY_POINTS.includes(file.path)) continue;
      if (!mod.imports.includes(file.path)) missing.push(`src/${folder}/mod.ts → ${name}`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("src/ has no import cycle among its files", async () => {
  const graph = new Map((await sources()).map((f) => [f.path, f.imports]));
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (path: string, trail: string[]) => {
    if (state.get(path) === "done") return;
    if (state.get(path) === "open") {
      cycles.push([...trail.slice(trail.indexOf(path)), path].join(" → "));
      return;
    }
    state.set(path, "open");
    for (const next of graph.get(path) ?? []) visit(next, [...trail, path]);
    state.set(path, "done");
  };
  for (const path of graph.keys()) visit(path, []);
  assert.deepEqual(cycles, []);
});

Deno.test("src/ files stay under FILE_LINES_MAX lines and src/region/ under REGION_LINES_MAX", async () => {
  const files = await sources();
  const big = files.filter((f) => f.lines > FILE_LINES_MAX).map((f) => `${f.path}: ${f.lines}`);
  assert.deepEqual(big, []);
  const region = files.filter((f) => folderOf(f.path) === "region")
    .reduce((n, f) => n + f.lines, 0);
  assert.ok(region < REGION_LINES_MAX, `src/region/ holds ${region} lines`);
});
