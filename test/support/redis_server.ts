/**
 * Starts a throwaway `redis-server` (the Debian package) on a free loopback port for tests.
 *
 * Whether the binary exists is decided once, at module load, so tests can be registered as
 * ignored (and counted as skipped) when it is missing. With `MESH_REQUIRE_REDIS=1` a missing
 * binary is an error instead: CI sets it so Redis-backed tests can never be skipped silently.
 */

import { RespConnection, SimpleString } from "./resp_client.ts";

/** A running redis-server; {@linkcode stop} kills it and releases every handle. */
export interface RedisHandle {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  stop(): Promise<void>;
}

/** How long redis-server may take to answer PING after it is spawned, in milliseconds. */
const STARTUP_MS_MAX = 10_000;
/** Pause between PING attempts during startup, in milliseconds. */
const STARTUP_POLL_MS = 10;
/** Fresh ports tried when redis-server fails to bind (another process took the port). */
const START_ATTEMPTS_MAX = 5;
/** Most output kept from redis-server for error messages, in bytes. */
const OUTPUT_TAIL_BYTES_MAX = 8_192;

/**
 * Where to look for redis-server: `MESH_REDIS_SERVER_BIN` alone when set (tests of this module
 * use it to simulate a missing binary), else every `PATH` entry, then `/usr/bin`.
 */
async function findRedisServer(): Promise<string | null> {
  const override = Deno.env.get("MESH_REDIS_SERVER_BIN");
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  const candidates = override !== undefined
    ? [override]
    : [...dirs.map((d) => `${d}/redis-server`), "/usr/bin/redis-server"];
  for (const candidate of candidates) {
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch {
      // Not there; try the next candidate.
    }
  }
  return null;
}

/** Absolute path of the redis-server binary, or null when it is not installed. */
export const REDIS_SERVER_PATH: string | null = await findRedisServer();
/** True when redis-server is installed and Redis-backed tests run. */
export const redisAvailable: boolean = REDIS_SERVER_PATH !== null;

if (!redisAvailable) {
  if (Deno.env.get("MESH_REQUIRE_REDIS") === "1") {
    throw new Error(
      "Cannot run Redis/Upstash tests as redis-server is not installed and MESH_REQUIRE_REDIS=1: " +
        "install the Debian package redis-server",
    );
  }
  console.error(
    "WARNING: redis-server not installed — Redis/Upstash tests are SKIPPED " +
      "(install the Debian package redis-server)",
  );
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Collects the last bytes a stream yields, until it ends. */
async function drainTail(stream: ReadableStream<Uint8Array>): Promise<string> {
  let tail = new Uint8Array(0);
  for await (const chunk of stream) {
    const joined = new Uint8Array(tail.length + chunk.length);
    joined.set(tail);
    joined.set(chunk, tail.length);
    tail = joined.slice(Math.max(0, joined.length - OUTPUT_TAIL_BYTES_MAX));
  }
  return new TextDecoder().decode(tail);
}

async function answersPing(port: number): Promise<boolean> {
  let conn: RespConnection | null = null;
  try {
    conn = await RespConnection.connect(port);
    const reply = await conn.command("PING");
    return reply instanceof SimpleString && reply.value === "PONG";
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

type StartResult = { handle: RedisHandle } | { exited: string };

async function startOnce(binary: string, port: number): Promise<StartResult> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-redis-" });
  const child = new Deno.Command(binary, {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--dir",
      dir,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([drainTail(child.stdout), drainTail(child.stderr)])
    .then(([out, err]) => out + err);
  let exited = false;
  const status = child.status.finally(() => exited = true);

  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // It exited between the check and the kill.
      }
    }
    await status;
    await output;
    await Deno.remove(dir, { recursive: true });
  };

  const deadline = Date.now() + STARTUP_MS_MAX;
  while (!exited && Date.now() < deadline) {
    if (await answersPing(port)) {
      return { handle: { port, url: `redis://127.0.0.1:${port}`, stop } };
    }
    await new Promise((resolve) => setTimeout(resolve, STARTUP_POLL_MS));
  }
  const timedOut = !exited;
  await stop();
  const log = await output;
  if (timedOut) {
    throw new Error(
      `Cannot start redis-server as it did not answer PING within ${STARTUP_MS_MAX} ms: ${log}`,
    );
  }
  return { exited: log };
}

/**
 * Starts redis-server on a free loopback port without persistence and waits until it answers
 * PING. Returns null when redis-server is not installed. The caller must `stop()` it.
 */
export async function startRedis(): Promise<RedisHandle | null> {
  if (REDIS_SERVER_PATH === null) return null;
  let lastLog = "";
  for (let attempt = 0; attempt < START_ATTEMPTS_MAX; attempt++) {
    const result = await startOnce(REDIS_SERVER_PATH, freePort());
    if ("handle" in result) return result.handle;
    lastLog = result.exited;
  }
  throw new Error(
    `Cannot start redis-server after ${START_ATTEMPTS_MAX} attempts: ${lastLog}`,
  );
}

/**
 * Registers a test that gets a fresh redis-server, stopped after the test. When redis-server is
 * not installed the test is registered as ignored, so it is reported as skipped.
 */
export function redisTest(
  name: string,
  fn: (redis: RedisHandle, t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !redisAvailable,
    fn: async (t) => {
      const redis = await startRedis();
      if (redis === null) {
        throw new Error("Cannot run test as redis-server is not installed");
      }
      try {
        await fn(redis, t);
      } finally {
        await redis.stop();
      }
    },
  });
}
