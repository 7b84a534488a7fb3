/** `deno task start` and `deno task mesh` as real processes: busy ports, and regions that die. */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import {
  RESTART_DELAY_MS_MAX,
  RESTART_DELAY_MS_MIN,
  restartDelayMs,
} from "../../scripts/region_supervisor.ts";
import { freePortRange, runDeno } from "../support/region_process.ts";

/** How long a mesh (or a restarted region) may take to become healthy on a busy machine. */
const MESH_START_MS_MAX = 30_000;

interface MeshTask {
  output(): string;
  /** Resolves with the exit code, or null if it was still running after `ms`. */
  exit(ms: number): Promise<number | null>;
  stop(): Promise<void>;
}

function startMeshTask(env: Record<string, string>): MeshTask {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/mesh.ts"],
    cwd: new URL("../../", import.meta.url),
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const reading = Promise.all(
    [child.stdout, child.stderr].map((stream) =>
      stream.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (chunk) => void (text += chunk) }),
      ).catch(() => undefined)
    ),
  );
  return {
    output: () => text,
    async exit(ms) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<null>((r) => timer = setTimeout(() => r(null), ms));
      const code = await Promise.race([child.status.then((s) => s.code), late]);
      clearTimeout(timer);
      return code;
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      await child.status;
      await reading;
    },
  };
}

async function until(what: string, test: () => Promise<boolean> | boolean, output: () => string) {
  const deadline = Date.now() + MESH_START_MS_MAX;
  while (!await test()) {
    assert.ok(Date.now() < deadline, `${what} did not happen:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const healthy = (url: string) => fetch(`${url}/v1/health`).then((r) => r.ok, () => false);

Deno.test("main.ts on a port already in use says so in one line and exits 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-busy-" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = listener.addr as Deno.NetAddr;
    const run = await runDeno("main.ts", [], { PORT: String(port), MESH_DATA: dir });
    assert.equal(run.code, 2, run.stderr);
    assert.equal(
      run.stderr.trim(),
      `Cannot start region "local" as 127.0.0.1:${port} is already in use: stop what listens ` +
        "there (another `deno task start`?) or choose another PORT (or HOST).",
    );
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task mesh on a port already in use says so in one line and exits 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-busy-" });
  const base = freePortRange(3);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: base + 1 });
  const mesh = startMeshTask({ MESH_DATA: dir, MESH_BASE_PORT: String(base) });
  try {
    const code = await mesh.exit(15_000);
    assert.equal(code, 2, `exit ${code}:\n${mesh.output()}`);
    assert.equal(
      mesh.output().trim(),
      `Cannot start the mesh as port ${base + 1} (for eu-2) is already in use: stop what listens ` +
        "there (another `deno task mesh`?) or set MESH_BASE_PORT (regions take 3 ports from it).",
    );
  } finally {
    await mesh.stop();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task mesh reports a region process that exits and restarts it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-watch-" });
  const base = freePortRange(3);
  const mesh = startMeshTask({ MESH_DATA: dir, MESH_BASE_PORT: String(base) });
  const eu2 = `http://127.0.0.1:${base + 1}`;
  try {
    await until("eu-2 healthy", () => healthy(eu2), mesh.output);
    const pid = Number(mesh.output().match(/\[eu-2\] started \(pid (\d+)\)/)?.[1]);
    assert.ok(pid > 0, mesh.output());
    const agent = new Agent(AgentKey.generate());
    await new MeshClient(eu2).push([agent.sign("kept", [{ op: "add", set: "s", elem: "x" }])]);
    Deno.kill(pid, "SIGKILL");
    await until(
      "a report of eu-2's exit",
      () => /\[eu-2\] exited with signal SIGKILL; restarting in \d+ ms/.test(mesh.output()),
      mesh.output,
    );
    await until("a new eu-2 process", () => {
      const pids = [...mesh.output().matchAll(/\[eu-2\] started \(pid (\d+)\)/g)];
      return pids.length === 2 && Number(pids[1][1]) !== pid;
    }, mesh.output);
    await until("eu-2 healthy again", () => healthy(eu2), mesh.output);
    assert.equal((await new MeshClient(eu2).view("kept")).deltas, 1, "its store survived");
  } finally {
    await mesh.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restartDelayMs() doubles from the minimum and stays at the maximum", () => {
  assert.equal(restartDelayMs(1), RESTART_DELAY_MS_MIN);
  assert.equal(restartDelayMs(2), 2 * RESTART_DELAY_MS_MIN);
  assert.equal(restartDelayMs(3), 4 * RESTART_DELAY_MS_MIN);
  assert.equal(restartDelayMs(1_000), RESTART_DELAY_MS_MAX);
  for (let attempt = 1; attempt < 100; attempt++) {
    assert.ok(restartDelayMs(attempt) <= RESTART_DELAY_MS_MAX);
    assert.ok(restartDelayMs(attempt + 1) >= restartDelayMs(attempt));
  }
});
