/**
 * What bench/field.ts needs besides this repo, installed by its `setup` step and checked before
 * a run (a run never installs or downloads anything):
 *
 * - Debian packages `nats-server` and `serf` (`apt-get install -y`, when missing and running as
 *   root; otherwise a message saying what to install);
 * - npm packages pinned in deno.json (js-libp2p with gossipsub, TCP, Noise, Yamux, identify;
 *   the `nats` client; `@msgpack/msgpack` for Serf's RPC), fetched into Deno's cache by
 *   `deno install --entrypoint` on the benchmark's files.
 */
import config from "../deno.json" with { type: "json" };
import { versionOf } from "./_field_process.ts";

/** Debian packages and the binary each provides. */
export const DEBIAN_PACKAGES = [
  { name: "nats-server", binary: "nats-server" },
  { name: "serf", binary: "serf" },
] as const;

/** The npm packages of the peers, by their deno.json import name. */
export const NPM_PACKAGES = [
  "libp2p",
  "@chainsafe/libp2p-gossipsub",
  "@libp2p/tcp",
  "@chainsafe/libp2p-noise",
  "@chainsafe/libp2p-yamux",
  "@libp2p/identify",
  "@multiformats/multiaddr",
  "nats",
  "@msgpack/msgpack",
] as const;

const ENTRYPOINTS = ["bench/field.ts", "bench/_field_libp2p_node.ts"];
const ROOT = new URL("../", import.meta.url).pathname;

async function onPath(binary: string): Promise<boolean> {
  const found = new Deno.Command("sh", {
    args: ["-c", `command -v ${binary}`],
    stdout: "null",
    stderr: "null",
  });
  return (await found.output()).success;
}

async function run(command: string, args: string[]): Promise<boolean> {
  console.error(`$ ${command} ${args.join(" ")}`);
  const status = await new Deno.Command(command, {
    args,
    stdout: "inherit",
    stderr: "inherit",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).spawn().status;
  return status.success;
}

/** Installs what is missing; throws with what to do when it cannot. */
export async function setup(): Promise<void> {
  const missing = [];
  for (const p of DEBIAN_PACKAGES) if (!await onPath(p.binary)) missing.push(p.name);
  if (missing.length > 0) {
    if (Deno.uid() !== 0) {
      throw new Error(
        `Cannot install ${missing.join(", ")} as this is not root: run ` +
          `\`sudo apt-get install -y ${missing.join(" ")}\`, then this setup again`,
      );
    }
    const ok = await run("apt-get", ["install", "-y", ...missing]) ||
      (await run("apt-get", ["update"]) && await run("apt-get", ["install", "-y", ...missing]));
    if (!ok) throw new Error(`Cannot install ${missing.join(", ")} with apt-get (see above)`);
  }
  const cached = await new Deno.Command(Deno.execPath(), {
    args: ["install", ...ENTRYPOINTS.flatMap((e) => ["--entrypoint", e])],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!cached.success) throw new Error("Cannot fetch the npm packages pinned in deno.json");
}

/** What a run lacks (empty when it can run), each with the command that fixes it. */
export async function missing(): Promise<string[]> {
  const problems = [];
  for (const p of DEBIAN_PACKAGES) {
    if (!await onPath(p.binary)) {
      problems.push(`${p.binary} is not installed: run \`deno run -A bench/field.ts setup\``);
    }
  }
  return problems;
}

/** Versions of every peer and of the machine, for the record. */
export async function versions(): Promise<Record<string, string>> {
  const imports = config.imports as Record<string, string>;
  const debian = async (name: string) =>
    await versionOf("dpkg-query", ["-W", "-f=${Version}", name]) ?? "not installed";
  const out: Record<string, string> = {
    deno: Deno.version.deno,
    "nats-server": `${await versionOf("nats-server", ["--version"])} (Debian ${await debian(
      "nats-server",
    )})`,
    serf: `${await versionOf("serf", ["version"])} (Debian ${await debian("serf")})`,
  };
  for (const name of NPM_PACKAGES) out[name] = imports[name] ?? "not pinned";
  const cpu = /model name\s*:\s*(.*)/.exec(await Deno.readTextFile("/proc/cpuinfo"))?.[1];
  out.machine = `${navigator.hardwareConcurrency} vCPU ${cpu ?? "unknown CPU"}, ${
    Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
  } GiB, ${Deno.build.os}`;
  return out;
}

/** The 1-minute load average now. */
export function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}
