/** The agent CLI as a new user runs it: real `deno` processes against a real region process. */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { decodeBase64Url } from "../../src/protocol/base64url.ts";
import { signedMessage } from "../../src/protocol/delta.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import {
  freePort,
  type RegionProcess,
  runDeno,
  startRegionProcess,
} from "../support/region_process.ts";

/** How many CLI pushes run at once with one key (the bar is 8). */
const CONCURRENT_PUSHES = 10;

async function withRegion(
  fn: (region: RegionProcess, dir: string, cli: typeof runDeno) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-agent-cli-" });
  const region = await startRegionProcess({ MESH_DATA: `${dir}/region` });
  const env = { MESH_URL: region.url, MESH_AGENT_KEY: `${dir}/agent.key.json` };
  const cli = (_script: string, args: string[], extra: Record<string, string> = {}) =>
    runDeno("src/client/cli.ts", args, { ...env, ...extra });
  try {
    await fn(region, dir, cli);
  } finally {
    await region.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("agent CLI push: concurrent pushes with one key are all accepted, each with its own seq", async () => {
  await withRegion(async (region, dir, cli) => {
    assert.equal((await cli("", ["keygen"])).code, 0);
    const runs = await Promise.all(
      Array.from(
        { length: CONCURRENT_PUSHES },
        (_, i) => cli("", ["push", "race", "inc", "n", "1", "add", "who", `p${i}`]),
      ),
    );
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).status, "accepted", run.stdout);
    }
    const key = await AgentKey.load(`${dir}/agent.key.json`);
    const view = await new MeshClient(region.url).view("race");
    assert.equal(view.counters.n, BigInt(CONCURRENT_PUSHES));
    assert.equal(view.heads[key.id], CONCURRENT_PUSHES, "seqs 1..N, no gap, no conflict");
    const state = JSON.parse(await Deno.readTextFile(`${dir}/agent.key.seq.json`));
    assert.deepEqual(state, { v: 1, author: key.id, lastSeq: { race: CONCURRENT_PUSHES } });
  });
});

Deno.test("agent CLI push: without a seq-state file it continues above the region's highest seq", async () => {
  await withRegion(async (region, dir, cli) => {
    // The key was used elsewhere (another machine): seqs 1..3 and 7 are in the region.
    const key = AgentKey.generate();
    await key.save(`${dir}/agent.key.json`);
    const elsewhere = new Agent(key);
    const signed = [1, 2, 3, 4, 5, 6, 7].map((i) =>
      elsewhere.sign("moved", [{ op: "add", set: "s", elem: `${i}` }])
    );
    await new MeshClient(region.url).push([...signed.slice(0, 3), signed[6]]);
    const run = await cli("", ["push", "moved", "add", "s", "here"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).status, "accepted");
    const head = await new MeshClient(region.url).head("moved", key.id);
    assert.equal(head.max, 8);
  });
});

Deno.test("agent CLI get: prints counters beyond 2^53 exactly", async () => {
  await withRegion(async (_region, _dir, cli) => {
    await cli("", ["keygen"]);
    const push = await cli("", [
      "push",
      "big",
      "inc",
      "n",
      "9007199254740991",
      "inc",
      "n",
      "9007199254740990",
      "inc",
      "m",
      "-9007199254740991",
      "inc",
      "m",
      "-9007199254740991",
    ]);
    assert.equal(push.code, 0, push.stderr);
    const get = await cli("", ["get", "big"]);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /"n": 18014398509481981\b/);
    assert.match(get.stdout, /"m": -18014398509481982\b/);
  });
});

Deno.test("agent CLI tail: prints each signed envelope verbatim and the cursor to resume from", async () => {
  await withRegion(async (_region, _dir, cli) => {
    await cli("", ["keygen"]);
    for (const word of ["a", "b", "c"]) await cli("", ["push", "log", "add", "s", word]);
    const all = await cli("", ["tail", "log"]);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(lines.map((l) => Object.keys(l)), [["body", "sig"], ["body", "sig"], [
      "body",
      "sig",
    ]]);
    for (const { body, sig } of lines) {
      const author = decodeBase64Url(JSON.parse(body).author)!;
      assert.ok(
        await verifyEd25519(author, decodeBase64Url(sig)!, signedMessage(utf8Encode(body))),
      );
    }
    assert.deepEqual(lines.map((l) => JSON.parse(l.body).seq), [1, 2, 3]);
    const cursor = all.stderr.match(/cursor (\S+): resume with --after \1/)?.[1];
    assert.ok(cursor !== undefined, all.stderr);
    await cli("", ["push", "log", "add", "s", "d"]);
    const rest = await cli("", ["tail", "log", "--after", cursor]);
    const more = rest.stdout.trim().split("\n").map((line) => JSON.parse(JSON.parse(line).body));
    assert.deepEqual(more.map((b) => b.ops[0].elem), ["d"]);
  });
});

Deno.test("agent CLI tail --follow prints what arrives while it waits (a long-poll), each once", async () => {
  await withRegion(async (region, _dir, cli) => {
    await cli("", ["keygen"]);
    await cli("", ["push", "live", "add", "s", "before"]);
    const follower = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../src/client/cli.ts", import.meta.url).pathname, "tail"]
        .concat(["live", "--follow"]),
      env: { MESH_URL: region.url, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = follower.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    const nextElem = async () => {
      while (!buffer.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error("tail --follow ended");
        buffer += value;
      }
      const [line] = buffer.split("\n", 1);
      buffer = buffer.slice(line.length + 1);
      return JSON.parse(JSON.parse(line).body).ops[0].elem;
    };
    try {
      assert.equal(await nextElem(), "before");
      for (const word of ["one", "two"]) {
        await cli("", ["push", "live", "add", "s", word]);
        assert.equal(await nextElem(), word);
      }
    } finally {
      follower.kill();
      await lines.cancel().catch(() => {});
      await follower.status;
    }
  });
});

Deno.test("agent CLI --help, -h and help print usage, exit 0 and touch nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-agent-help-" });
  try {
    const env = {
      MESH_AGENT_KEY: `${dir}/agent.key.json`,
      MESH_URL: `http://127.0.0.1:${freePort()}`,
    };
    const cases = [
      ["--help"],
      ["-h"],
      ["help"],
      ["help", "push"],
      ...["keygen", "push", "get", "tail"].flatMap((c) => [[c, "--help"], [c, "-h"]]),
      ["push", "demo", "set", "a", "1", "--help"],
    ];
    for (const args of cases) {
      const run = await runDeno("src/client/cli.ts", args, env);
      assert.equal(run.code, 0, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stdout, /^Usage: deno task agent /, args.join(" "));
      const command = args.find((a) => ["keygen", "push", "get", "tail"].includes(a));
      if (command !== undefined) assert.match(run.stdout, new RegExp(`agent ${command} `));
    }
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no key file written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent CLI errors are one sentence with a hint, never a raw OS error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-agent-errors-" });
  try {
    const url = `http://127.0.0.1:${freePort()}`;
    const env = { MESH_AGENT_KEY: `${dir}/agent.key.json`, MESH_URL: url };
    const cli = (...args: string[]) => runDeno("src/client/cli.ts", args, env);
    const noKey = await cli("push", "demo", "set", "a", "1");
    assert.equal(noKey.code, 1);
    assert.match(
      noKey.stderr,
      /^Cannot push as there is no agent key at .*agent\.key\.json: run `deno task agent keygen`/,
    );
    assert.equal((await cli("keygen")).code, 0);
    const again = await cli("keygen");
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^Cannot create a key at .*agent\.key\.json as that file already exists\. .*--key OTHER_FILE.*delete/,
    );
    const down = await cli("get", "demo");
    assert.equal(down.code, 1);
    assert.equal(down.stderr.trim().split("\n").length, 1, down.stderr);
    assert.match(down.stderr, new RegExp(`^Cannot reach the region at ${url}: .*--url / MESH_URL`));
    const usage = await cli("push");
    assert.equal(usage.code, 2);
    assert.equal(
      usage.stderr,
      "error: push needs a channel\nRun `deno task agent push --help` for usage.\n",
    );
    const badName = await cli("get", "Demo Channel!");
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /^error: "Demo Channel!" is not a channel name: use letters/);
    const badUrl = await cli("get", "demo", "--url", "notaurl");
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /^error: "notaurl" is not a region URL/);
    const noFolder = await cli("keygen", "--key", `${dir}/missing/x.key.json`);
    assert.equal(noFolder.code, 1);
    assert.match(noFolder.stderr, /as its folder does not exist/);
    for (const run of [noKey, again, down, usage, badName, badUrl, noFolder]) {
      assert.doesNotMatch(run.stderr, /os error|\n\s+at /, run.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the repository ignores the agent key, its seq state and data/", async () => {
  const text = await Deno.readTextFile(new URL("../../.gitignore", import.meta.url));
  const lines = new Set(text.split("\n").map((line) => line.trim()));
  for (const pattern of ["agent.key.json", "agent.key.seq.json", "data/", "*.tmp"]) {
    assert.ok(lines.has(pattern), `.gitignore lacks ${pattern}`);
  }
});

Deno.test("agent CLI push: a delta every region would refuse is not sent and costs no seq", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-agent-invalid-" });
  const region = await startRegionProcess({ MESH_DATA: `${dir}/data` });
  try {
    const env = { MESH_AGENT_KEY: `${dir}/agent.key.json`, MESH_URL: region.url };
    const cli = (...args: string[]) => runDeno("src/client/cli.ts", args, env);
    assert.equal((await cli("keygen")).code, 0);
    const bad = await cli("push", "demo", "set", "", "1");
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /would refuse this delta \(bad_schema\).*no seq was used/);
    assert.equal((await cli("push", "demo", "set", "a", "1")).code, 0);
    const view = JSON.parse((await cli("get", "demo")).stdout);
    assert.deepEqual(view.gaps, {}, "no gap left by the refused delta");
    assert.deepEqual(Object.values(view.heads), [1]);
  } finally {
    await region.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
