import assert from "node:assert/strict";
import { errors, Redis, type RedisConfigNodejs } from "@upstash/redis";
import { redisTest, startRedis } from "./redis_server.ts";
import { ErrorReply, RespConnection, SimpleString } from "./resp_client.ts";
import { encodeBase64, resultToJson, upstashTest, UpstashTestEnv } from "./upstash_rest_server.ts";

const encoder = new TextEncoder();

function client(env: UpstashTestEnv, extra: Partial<RedisConfigNodejs> = {}) {
  return new Redis({ url: env.rest.url, token: env.rest.token, ...extra });
}

async function post(
  env: UpstashTestEnv,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(env.rest.url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${env.rest.token}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

// ---------------------------------------------------------------------------------------------
// redis_server.ts and resp_client.ts

redisTest("startRedis() serves PING on loopback and stop() frees the port", async (redis) => {
  assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
  const conn = await RespConnection.connect(redis.port);
  assert.deepEqual(await conn.command("PING"), new SimpleString("PONG"));
  assert.deepEqual(await conn.command("CONFIG", "GET", "save"), [
    encoder.encode("save"),
    encoder.encode(""),
  ]);
  conn.close();
  const other = await startRedis();
  assert.ok(other !== null);
  assert.notEqual(other.port, redis.port);
  await other.stop();
  await assert.rejects(() => RespConnection.connect(other.port), Deno.errors.ConnectionRefused);
});

redisTest("RespConnection.pipeline() is binary-safe and parses every reply type", async (redis) => {
  const conn = await RespConnection.connect(redis.port);
  try {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const replies = await conn.pipeline([
      ["SET", "bin", bytes],
      ["GET", "bin"],
      ["GET", "missing"],
      ["INCRBY", "n", -7],
      ["NOSUCHCOMMAND"],
      ["RPUSH", "list", "a", "b"],
      ["EVAL", "return {1, {'x', {2}}, redis.status_reply('S')}", 0],
      ["BLPOP", "empty", "0.01"],
      ["LRANGE", "nolist", 0, -1],
    ]);
    assert.deepEqual(replies[0], new SimpleString("OK"));
    assert.deepEqual(replies[1], bytes);
    assert.equal(replies[2], null);
    assert.equal(replies[3], -7);
    assert.ok(replies[4] instanceof ErrorReply);
    assert.match(replies[4].message, /^ERR unknown command/);
    assert.equal(replies[5], 2);
    assert.deepEqual(replies[6], [1, [encoder.encode("x"), [2]], new SimpleString("S")]);
    assert.equal(replies[7], null, "a null array (*-1)");
    assert.deepEqual(replies[8], []);
  } finally {
    conn.close();
  }
});

redisTest(
  "RespConnection.pipeline() keeps order across 2,000 commands and large values",
  async (redis) => {
    const conn = await RespConnection.connect(redis.port);
    try {
      const big = "x".repeat(300_000);
      const commands = Array.from(
        { length: 1_000 },
        (_, i) => ["SET", `k${i}`, i % 100 === 0 ? big : `v${i}`],
      );
      const sets = await conn.pipeline(commands);
      assert.ok(sets.every((r) => r instanceof SimpleString && r.value === "OK"));
      const gets = await conn.pipeline(commands.map(([, key]) => ["GET", key]));
      gets.forEach((reply, i) => {
        assert.equal(new TextDecoder().decode(reply as Uint8Array), i % 100 === 0 ? big : `v${i}`);
      });
    } finally {
      conn.close();
    }
  },
);

redisTest("RespConnection serializes concurrent callers on one connection", async (redis) => {
  const conn = await RespConnection.connect(redis.port);
  try {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => conn.pipeline([["SET", `c${i}`, i], ["GET", `c${i}`]])),
    );
    results.forEach(([, got], i) => assert.deepEqual(got, encoder.encode(String(i))));
  } finally {
    conn.close();
  }
});

redisTest("RespConnection.transaction() runs MULTI/EXEC and reports EXECABORT", async (redis) => {
  const conn = await RespConnection.connect(redis.port);
  try {
    const ok = await conn.transaction([["SET", "a", "1"], ["INCR", "a"], ["HGET", "a", "f"]]);
    assert.deepEqual(ok.queued.map((r) => (r as SimpleString).value), [
      "QUEUED",
      "QUEUED",
      "QUEUED",
    ]);
    const exec = ok.exec as unknown[];
    assert.deepEqual(exec.slice(0, 2), [new SimpleString("OK"), 2]);
    assert.ok(exec[2] instanceof ErrorReply && exec[2].message.startsWith("WRONGTYPE"));
    const aborted = await conn.transaction([["SET", "b", "1"], ["GET"]]);
    assert.ok(aborted.queued[1] instanceof ErrorReply);
    assert.ok(aborted.exec instanceof ErrorReply && aborted.exec.message.startsWith("EXECABORT"));
    assert.equal(await conn.command("EXISTS", "b"), 0);
  } finally {
    conn.close();
  }
});

Deno.test("resultToJson() base64-encodes strings except a top-level OK status", () => {
  const b64 = (s: string) => encodeBase64(encoder.encode(s));
  assert.equal(resultToJson(new SimpleString("OK"), true), "OK");
  assert.equal(resultToJson(new SimpleString("PONG"), true), b64("PONG"));
  assert.equal(resultToJson(encoder.encode("OK"), true), b64("OK"), "a bulk OK is data");
  assert.deepEqual(resultToJson([new SimpleString("OK"), 3, null, [encoder.encode("é")]], true), [
    b64("OK"),
    3,
    null,
    [b64("é")],
  ]);
  assert.deepEqual(resultToJson([new SimpleString("OK"), encoder.encode("é")], false), ["OK", "é"]);
  assert.equal(encodeBase64(Uint8Array.from([0, 255, 128])), "AP+A");
});

async function runProbe(env: Record<string, string>): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-probe-" });
  try {
    const module = new URL("./redis_server.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/probe_test.ts`,
      `import { redisTest } from ${JSON.stringify(module)};\n` +
        `redisTest("needs redis", async () => {});\n`,
    );
    // The probe decides for itself whether Redis is required: never inherit the caller's setting
    // (CI runs everything with MESH_REQUIRE_REDIS=1).
    const inherited = Deno.env.toObject();
    delete inherited.MESH_REQUIRE_REDIS;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--no-config", "--no-check", "-A", `${dir}/probe_test.ts`],
      env: { ...inherited, ...env, NO_COLOR: "1" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code, output: decode(stdout) + decode(stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("redisTest() skips loudly without redis-server and fails under MESH_REQUIRE_REDIS=1", async () => {
  const missing = { MESH_REDIS_SERVER_BIN: "/nonexistent/redis-server" };
  const skipped = await runProbe(missing);
  assert.equal(skipped.code, 0, skipped.output);
  assert.match(
    skipped.output,
    /WARNING: redis-server not installed — Redis\/Upstash tests are SKIPPED/,
  );
  assert.match(skipped.output, /needs redis \.\.\. ignored/);
  const required = await runProbe({ ...missing, MESH_REQUIRE_REDIS: "1" });
  assert.notEqual(required.code, 0, required.output);
  assert.match(required.output, /MESH_REQUIRE_REDIS=1/);
});

// ---------------------------------------------------------------------------------------------
// The REST server through the real @upstash/redis client (default options: base64 encoding,
// auto-pipelining, read-your-writes).

upstashTest(
  "Redis.set()/get() round-trips unicode, control characters and look-alikes",
  async (env) => {
    const redis = client(env);
    const values = [
      "plain",
      "héllo wörld ✓ 日本語 🚀",
      "\u0000\u0001\t\n\r\u001f\u007f",
      "OK",
      "PONG",
      "QUEUED",
      "dmFsdWU=",
      "",
      "x".repeat(100_000),
    ];
    for (const [i, value] of values.entries()) {
      assert.equal(await redis.set(`s${i}`, value), "OK");
      assert.equal(await redis.get(`s${i}`), value, `value #${i}`);
    }
    assert.equal(await redis.get("never-set"), null);
    assert.equal(await redis.ping(), "PONG");
  },
);

upstashTest(
  "Redis.get() deserializes numbers and JSON objects the client serialized",
  async (env) => {
    const redis = client(env);
    await redis.set("n", 42);
    assert.equal(await redis.get("n"), 42);
    assert.equal(await redis.incrby("n", 8), 50);
    const doc = { a: 1, b: [1, "two", null], nested: { s: "ü", t: true } };
    await redis.set("doc", doc);
    assert.deepEqual(await redis.get("doc"), doc);
    assert.equal(await redis.type("doc"), "string");
    const raw = client(env, { automaticDeserialization: false });
    assert.equal(await raw.get("doc"), JSON.stringify(doc));
    assert.equal(await raw.get("n"), "50");
  },
);

upstashTest("Redis.hset()/hgetall() and zadd()/zrange() go through both routes", async (env) => {
  const redis = client(env);
  assert.equal(await redis.hset("h", { name: "ada", n: 7, obj: { x: 1 } }), 3);
  assert.deepEqual(await redis.hgetall("h"), { name: "ada", n: 7, obj: { x: 1 } });
  assert.equal(await redis.hget("h", "name"), "ada");
  assert.equal(await redis.zadd("z", { score: 2, member: "b" }, { score: 1, member: "a" }), 2);
  assert.deepEqual(await redis.zrange("z", 0, -1), ["a", "b"]);
  assert.deepEqual(await redis.zrange("z", 0, -1, { withScores: true }), ["a", 1, "b", 2]);
  assert.ok((env.rest.stats.byPath["/"] ?? 0) >= 1, "HGETALL is sent to /");
  assert.ok(
    (env.rest.stats.byPath["/pipeline"] ?? 0) >= 1,
    "auto-pipelined commands go to /pipeline",
  );
});

upstashTest("Redis without auto-pipelining sends single commands to /", async (env) => {
  const redis = client(env, { enableAutoPipelining: false });
  env.rest.resetStats();
  assert.equal(await redis.set("k", "v"), "OK");
  assert.equal(await redis.get("k"), "v");
  assert.deepEqual(env.rest.stats.byPath, { "/": 2 });
});

upstashTest("Redis.pipeline() returns one result per command, in order", async (env) => {
  const redis = client(env);
  env.rest.resetStats();
  const results = await redis.pipeline()
    .set("p1", "one")
    .incr("p2")
    .get("p1")
    .hset("ph", { f: "v" })
    .hgetall("ph")
    .exec();
  assert.deepEqual(results, ["OK", 1, "one", 1, { f: "v" }]);
  assert.deepEqual(env.rest.stats.byPath, { "/pipeline": 1 });
  const kept = await redis.pipeline().set("p3", "x").incr("p3").get("p3").exec({
    keepErrors: true,
  });
  assert.equal(kept[0].result, "OK");
  assert.match(String(kept[1].error), /ERR value is not an integer/);
  assert.equal(kept[2].result, "x");
});

upstashTest("Redis.multi() applies its commands atomically", async (env) => {
  const redis = client(env);
  assert.deepEqual(await redis.multi().set("m", 1).incr("m").get("m").exec(), ["OK", 2, 2]);
  // Concurrent transactions never interleave: each sees two consecutive counter values.
  const runs = await Promise.all(
    Array.from(
      { length: 40 },
      () => redis.multi().incr("ctr").incr("ctr").exec<[number, number]>(),
    ),
  );
  for (const [first, second] of runs) assert.equal(second, first + 1);
  assert.equal(await redis.get("ctr"), 80);
  // A command rejected while queuing aborts the whole transaction.
  // `hset` with no fields has the wrong arity, which redis detects while queuing.
  await assert.rejects(
    () => redis.multi().set("never", 1).hset("h", {}).set("never2", 1).exec(),
    /wrong number of arguments/,
  );
  assert.equal(await redis.exists("never", "never2"), 0);
  // An error at execution time fails only its own command (redis has no rollback).
  await assert.rejects(
    () => redis.multi().set("ran", 1).eval("not lua(", [], []).exec(),
    /Command 2 \[ eval \] failed: ERR Error compiling script/,
  );
  assert.equal(await redis.get("ran"), 1);
});

upstashTest("Redis.eval(), scriptLoad()/evalsha() and createScript() run Lua", async (env) => {
  const redis = client(env);
  const script = "redis.call('SET', KEYS[1], ARGV[1]); " +
    "return {KEYS[1], ARGV[1], 42, redis.status_reply('OK'), {'é', 'OK'}}";
  assert.deepEqual(await redis.eval(script, ["ek"], ["ev"]), ["ek", "ev", 42, "OK", ["é", "OK"]]);
  assert.equal(await redis.get("ek"), "ev");
  const sha = await redis.scriptLoad("return ARGV[1] .. '!'");
  assert.match(sha, /^[0-9a-f]{40}$/);
  assert.equal(await redis.evalsha(sha, [], ["hi"]), "hi!");
  await assert.rejects(() => redis.evalsha("f".repeat(40), [], []), /NOSCRIPT/);
  const lazy = redis.createScript<string>("return 'from ' .. ARGV[1]");
  assert.equal(await lazy.exec([], ["script"]), "from script", "falls back from EVALSHA to EVAL");
  assert.equal(await lazy.exec([], ["cache"]), "from cache");
});

upstashTest("Redis with a wrong token throws Unauthorized", async (env) => {
  const redis = new Redis({ url: env.rest.url, token: "wrong" });
  await assert.rejects(() => redis.get("k"), (e: Error) => {
    assert.ok(e instanceof errors.UpstashError);
    assert.match(e.message, /^Unauthorized, command was: /);
    return true;
  });
  const single = new Redis({ url: env.rest.url, token: "wrong", enableAutoPipelining: false });
  await assert.rejects(() => single.set("k", "v"), /Unauthorized/);
});

upstashTest("Redis surfaces a redis error as UpstashError on every route", async (env) => {
  await client(env).set("str", "abc");
  await assert.rejects(() => client(env).incr("str"), (e: Error) => {
    assert.ok(e instanceof errors.UpstashError);
    assert.equal(e.message, "Command failed: ERR value is not an integer or out of range");
    return true;
  });
  await assert.rejects(
    () => client(env, { enableAutoPipelining: false }).incr("str"),
    /^UpstashError: ERR value is not an integer or out of range, command was: \["incr","str"\]/,
  );
  await assert.rejects(
    () => client(env).pipeline().get("str").incr("str").exec(),
    /Command 2 \[ incr \] failed: ERR value is not an integer/,
  );
});

// ---------------------------------------------------------------------------------------------
// The wire, without the client.

upstashTest("POST / answers {result} with and without Upstash-Encoding: base64", async (env) => {
  const b64 = { "upstash-encoding": "base64" };
  assert.deepEqual((await post(env, "/", ["SET", "k", "vé"], b64)).json, { result: "OK" });
  assert.deepEqual((await post(env, "/", ["GET", "k"], b64)).json, { result: btoa("v\xc3\xa9") });
  assert.deepEqual((await post(env, "/", ["GET", "k"])).json, { result: "vé" });
  assert.deepEqual((await post(env, "/", ["GET", "nope"], b64)).json, { result: null });
  assert.deepEqual((await post(env, "/", ["PING"], b64)).json, { result: btoa("PONG") });
  assert.deepEqual((await post(env, "/", ["RPUSH", "l", "a", 1, true], b64)).json, { result: 3 });
  assert.deepEqual((await post(env, "/", ["LRANGE", "l", 0, -1], b64)).json, {
    result: [btoa("a"), btoa("1"), btoa("true")],
  });
  const error = await post(env, "/", ["INCR", "k"], b64);
  assert.equal(error.status, 400);
  assert.deepEqual(error.json, { error: "ERR value is not an integer or out of range" });
  const bad = await post(env, "/", { not: "a command" });
  assert.equal(bad.status, 400);
  assert.ok("error" in (bad.json as object));
  const first = (await post(env, "/", ["PING"])).headers.get("upstash-sync-token");
  const second = (await post(env, "/", ["PING"])).headers.get("upstash-sync-token");
  assert.ok(first !== null && second !== null && first !== second);
});

upstashTest(
  "POST /pipeline and /multi-exec answer one {result}|{error} per command",
  async (env) => {
    const b64 = { "upstash-encoding": "base64" };
    const pipeline = await post(
      env,
      "/pipeline",
      [["SET", "a", "x"], ["INCR", "a"], ["GET", "a"]],
      b64,
    );
    assert.equal(pipeline.status, 200);
    assert.deepEqual(pipeline.json, [
      { result: "OK" },
      { error: "ERR value is not an integer or out of range" },
      { result: btoa("x") },
    ]);
    const multi = await post(env, "/multi-exec", [["SET", "b", "1"], ["INCR", "b"], [
      "HGET",
      "b",
      "f",
    ]], b64);
    assert.equal(multi.status, 200);
    assert.deepEqual((multi.json as unknown[]).slice(0, 2), [{ result: "OK" }, { result: 2 }]);
    assert.match((multi.json as { error: string }[])[2].error, /^WRONGTYPE/);
    const aborted = await post(env, "/multi-exec", [["SET", "c", "1"], ["GET"]], b64);
    assert.equal(aborted.status, 400);
    assert.match((aborted.json as { error: string }).error, /wrong number of arguments/);
    assert.deepEqual((await post(env, "/", ["EXISTS", "c"])).json, { result: 0 });
    const nested = await post(env, "/multi-exec", [["MULTI"]]);
    assert.equal(nested.status, 400);
  },
);

upstashTest("every route answers 401 without the right bearer token", async (env) => {
  for (const path of ["/", "/pipeline", "/multi-exec", "/get/k"]) {
    const variants: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong" },
      { authorization: env.rest.token },
    ];
    for (const headers of variants) {
      const res = await fetch(env.rest.url + path, {
        method: "POST",
        headers,
        body: JSON.stringify(path === "/" ? ["PING"] : [["PING"]]),
      });
      assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.deepEqual(await res.json(), { error: "Unauthorized" });
    }
  }
  assert.equal(env.rest.stats.commands, 0);
});

// ---------------------------------------------------------------------------------------------
// Fault injection.

upstashTest(
  "faults http500 and close fail the next N requests without touching redis",
  async (env) => {
    const redis = client(env, { enableAutoPipelining: false });
    env.rest.faults.set({ mode: "http500", count: 2 });
    await assert.rejects(() => redis.set("f", "1"), errors.UpstashError);
    await assert.rejects(() => redis.set("f", "2"), /injected fault/);
    assert.equal(env.rest.faults.current.mode, "none");
    assert.equal(await redis.get("f"), null);
    env.rest.faults.set({ mode: "close" });
    await assert.rejects(() => redis.set("f", "3"), TypeError);
    await assert.rejects(() => redis.get("f"), TypeError);
    env.rest.faults.reset();
    assert.equal(await redis.get("f"), null);
  },
);

upstashTest("faults with afterApply run the commands and lose only the answer", async (env) => {
  const redis = client(env);
  env.rest.faults.set({ mode: "http500", count: 1, afterApply: true });
  await assert.rejects(() => redis.set("g", "applied"), errors.UpstashError);
  assert.equal(await redis.get("g"), "applied");
  env.rest.faults.set({ mode: "close", count: 1, afterApply: true });
  await assert.rejects(() => redis.incr("cnt"), TypeError);
  assert.equal(await redis.get("cnt"), 1);
});

upstashTest(
  "fault hang holds requests until the client's signal factory times out",
  async (env) => {
    const redis = client(env, { signal: () => AbortSignal.timeout(150) });
    env.rest.faults.set({ mode: "hang" });
    const started = Date.now();
    await assert.rejects(() => redis.set("h", "1"), (e: Error) => e.name === "TimeoutError");
    assert.ok(Date.now() - started >= 140);
    env.rest.faults.reset();
    assert.equal(await redis.get("h"), null);
  },
);

upstashTest("Redis with a plain AbortSignal turns a timeout into a bogus result", async (env) => {
  // Why the store passes a signal *factory*: with a plain signal, @upstash/redis 1.39 answers an
  // aborted request with a made-up 200 `{result: <abort reason>}` instead of throwing. A single
  // command then returns null; an (auto-)pipeline fails on the non-array with a TypeError.
  env.rest.faults.set({ mode: "hang" });
  const single = client(env, { signal: AbortSignal.timeout(100), enableAutoPipelining: false });
  assert.equal(await single.get("h"), null);
  const piped = client(env, { signal: AbortSignal.timeout(100) });
  await assert.rejects(() => piped.get("h"), /res\.map is not a function/);
  env.rest.faults.reset();
});
