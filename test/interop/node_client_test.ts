// Interop test: a Node.js client written from docs/protocol.md alone (node_client.mjs) runs its
// scenario against a real region process. Nothing is imported from src/: the region is started as
// a separate `deno run main.ts` process and spoken to over HTTP only.

import assert from "node:assert/strict";

const REPO_ROOT = new URL("../../", import.meta.url);
const CLIENT = "test/interop/node_client.mjs";
const HEALTH_TIMEOUT_MS = 60_000;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const NODE_MISSING =
  "Node.js (`node`) is not on PATH: the interop test needs Node.js >= 20 to run " +
  `${CLIENT}. Install Node.js (it is guaranteed on CI).`;

/**
 * Absolute path of `node` from PATH. Resolved by hand because Deno.Command("node") may silently
 * run Deno itself in Node-compatibility mode when no `node` is installed.
 */
function findNode(): string {
  const windows = Deno.build.os === "windows";
  const names = windows ? ["node.exe", "node.cmd"] : ["node"];
  for (const dir of (Deno.env.get("PATH") ?? "").split(windows ? ";" : ":")) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = `${dir}${windows ? "\\" : "/"}${name}`;
      try {
        if (Deno.statSync(candidate).isFile) return candidate;
      } catch {
        // not here
      }
    }
  }
  throw new Error(NODE_MISSING);
}

async function nodeVersion(node: string): Promise<string> {
  const out = await new Deno.Command(node, {
    args: ["--version"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const version = new TextDecoder().decode(out.stdout).trim();
  const major = /^v(\d+)\./.exec(version)?.[1];
  if (!out.success || major === undefined) {
    throw new Error(`${NODE_MISSING} (\`${node} --version\` printed ${JSON.stringify(version)})`);
  }
  if (Number(major) < 20) throw new Error(`Node.js >= 20 is required, found ${version} at ${node}`);
  return version;
}

async function waitForHealth(
  url: string,
  exited: Promise<Deno.CommandStatus>,
  logs: () => Promise<string>,
): Promise<void> {
  let done: Deno.CommandStatus | undefined;
  exited.then((s) => (done = s));
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let last = "";
  while (Date.now() < deadline) {
    if (done) {
      throw new Error(`region exited early with code ${done.code}:\n${await logs()}`);
    }
    try {
      const res = await fetch(`${url}/v1/health`);
      const text = await res.text();
      if (res.status === 200) return;
      last = `${res.status} ${text}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`region not healthy after ${HEALTH_TIMEOUT_MS} ms (last: ${last})`);
}

Deno.test("a Node.js client written from docs/protocol.md interoperates with a region", async () => {
  const node = findNode();
  const version = await nodeVersion(node);

  const dataDir = await Deno.makeTempDir({ prefix: "mesh-interop-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const region = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: REPO_ROOT,
    env: { PORT: String(port), MESH_DATA: dataDir, MESH_REGION: "interop" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Drain both streams for the whole life of the process (so it never blocks on a full pipe and
  // the streams are closed when it exits).
  const regionOut = new Response(region.stdout).text();
  const regionErr = new Response(region.stderr).text();
  const regionLogs = async () =>
    `--- region stdout\n${await regionOut}\n--- region stderr\n${await regionErr}`;
  let killed = false;
  const stopRegion = async () => {
    if (!killed) {
      killed = true;
      try {
        region.kill("SIGTERM");
      } catch {
        // already exited
      }
    }
    await region.status;
  };

  try {
    await waitForHealth(url, region.status, async () => {
      await stopRegion();
      return await regionLogs();
    });

    const started = performance.now();
    const out = await new Deno.Command(node, {
      args: [CLIENT, url],
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const ms = Math.round(performance.now() - started);
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const summaryLine = stdout.trim().split("\n").at(-1) ?? "";

    if (out.code !== 0) {
      await stopRegion();
      console.error(
        `node client exited with ${out.code} after ${ms} ms\n--- client stdout\n${stdout}\n` +
          `--- client stderr\n${stderr}\n${await regionLogs()}`,
      );
    }
    assert.equal(
      out.code,
      0,
      `node ${CLIENT} failed (exit ${out.code}):\n${stdout}\n${stderr}`,
    );
    const summary = JSON.parse(summaryLine);
    assert.equal(summary.ok, true, summaryLine);
    console.log(`node client (${version}) ok in ${ms} ms: ${summary.checks} checks`);
  } finally {
    await stopRegion();
    await regionOut;
    await regionErr;
    await Deno.remove(dataDir, { recursive: true });
  }
});
