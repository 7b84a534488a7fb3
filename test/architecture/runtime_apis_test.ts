/**
 * The core runs on Deno, Cloudflare workerd and Vercel's edge runtime alike (issue 13): only the
 * Deno adapter, the Deno KV store, key files and the CLI may use the `Deno` namespace, and what
 * the edge adapters import reaches none of the Deno-only parts. Checked on the source text.
 */
import assert from "node:assert/strict";

const SRC = new URL("../../src/", import.meta.url);

/** The files of src/ that may use `Deno.*`, and why. */
const DENO_ALLOWED: readonly (string | RegExp)[] = [
  "adapters/deno.ts", // the Deno adapter: files, Deno KV, the key file
  "adapters/kv_queue_scheduler.ts", // Deno Deploy's scheduler: KV queues and Deno.cron
  "store/deno_kv_store.ts", // the Deno KV store and its private parts
  /^store\/_kv_[a-z_]+\.ts$/,
  "crypto/agent_key.ts", // AgentKey.load/save: key files (the CLI's and `deno task start`'s)
  "client/cli.ts", // the agent CLI, its commands and its seq ledger on disk
  /^client\/_cli_[a-z_]+\.ts$/,
  "client/seq_ledger.ts",
];

/** Of the allowed files, those the edge adapters may reach: no call of theirs runs there. */
const EDGE_REACHABLE_ALLOWED = ["crypto/agent_key.ts"];

const allowed = (path: string) =>
  DENO_ALLOWED.some((a) => typeof a === "string" ? a === path : a.test(path));

/** Every .ts file of src/, relative to it, with its text. */
async function sources(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, SRC))) {
      if (entry.isDirectory) await walk(`${dir}${entry.name}/`);
      else if (entry.name.endsWith(".ts")) {
        out.set(
          `${dir}${entry.name}`,
          await Deno.readTextFile(new URL(`${dir}${entry.name}`, SRC)),
        );
      }
    }
  };
  await walk("");
  return out;
}

/**
 * The code of `text` without its comments (strings kept, so a `//` in a URL stays code). Regular
 * expression literals are read as code, which is right for every one in src/ (none holds a quote
 * and a comment opener).
 */
export function withoutComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i], next = text[i + 1];
    if (c === "/" && next === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end === -1 ? text.length : end + 2;
      out += " ";
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const USES_DENO = /(?<![\w$.])Deno\s*[.[]/;

Deno.test("withoutComments() drops comments and keeps strings and code", () => {
  const text = 'const a = "http://x"; // Deno.exit()\n/* Deno.env */ Deno.serve(`//`);';
  assert.equal(withoutComments(text), 'const a = "http://x"; \n  Deno.serve(`//`);');
  assert.ok(!USES_DENO.test(withoutComments("// Deno.exit()\nconst DENO_MAX = 1;")));
  assert.ok(USES_DENO.test(withoutComments("let kv: Deno.Kv;")));
});

Deno.test("src/ uses the Deno namespace only in the Deno adapter, the Deno KV store, key files and the CLI", async () => {
  const files = await sources();
  const wrong = [...files].filter(([path, text]) =>
    !allowed(path) && USES_DENO.test(withoutComments(text))
  ).map(([path]) => `src/${path}`);
  assert.deepEqual(wrong, []);
  // The list stays true: every allowed name is a file that still uses Deno.
  for (const entry of DENO_ALLOWED) {
    const matches = [...files].filter(([path]) =>
      typeof entry === "string" ? path === entry : entry.test(path)
    );
    assert.ok(matches.length > 0, `${entry} names no file of src/`);
  }
});

Deno.test("the edge adapters reach no Deno-only module (the Deno adapter, the Deno KV store)", async () => {
  const files = await sources();
  const importsOf = (path: string) =>
    [...(files.get(path) ?? "").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)]
      .map((m) => new URL(m[1], new URL(path, SRC)).href.slice(SRC.href.length));
  for (const entry of ["adapters/workerd.ts", "adapters/vercel_edge.ts"]) {
    const seen = new Set<string>();
    const visit = (path: string) => {
      if (seen.has(path)) return;
      seen.add(path);
      importsOf(path).forEach(visit);
    };
    visit(entry);
    const denoOnly = [...seen].filter((p) => allowed(p) && !EDGE_REACHABLE_ALLOWED.includes(p));
    assert.deepEqual(denoOnly, [], `${entry} reaches Deno-only modules`);
  }
});
