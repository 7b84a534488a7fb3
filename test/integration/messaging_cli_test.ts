/**
 * Topics and direct messages from the agent's side against a real region process: the CLI's
 * publish, subscribe (following, resuming with --cursor), send, inbox (decrypting), ack and
 * inbox --ack, and the SDK's subscription resuming across a region restart without loss or
 * duplicates.
 */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { MeshClient, MeshHttpError } from "../../src/client/mesh_client.ts";
import { signTopicMessage, verifyTopicEvent } from "../../src/client/messaging.ts";
import { signRequest } from "../../src/client/request_signer.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { freePort, type RegionProcess, startRegionProcess } from "../support/region_process.ts";

const CLI = "src/client/cli.ts";
/** Longest a CLI run may take before the test kills it, in ms. */
const CLI_RUN_MS_MAX = 60_000;
const ROOT = new URL("../../", import.meta.url);

type Run = { code: number; stdout: string; stderr: string };
type Cli = (...args: string[]) => Promise<Run>;

async function withRegion(
  fn: (region: RegionProcess, dir: string, cli: Cli) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-messaging-cli-" });
  const region = await startRegionProcess({ MESH_DATA: `${dir}/region`, MESH_REGION: "eu-1" });
  const env = { MESH_URL: region.url, MESH_AGENT_KEY: `${dir}/a.key.json` };
  try {
    await fn(region, dir, (...args) => cliRun(args, env));
  } finally {
    await region.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the CLI like `runDeno`, killed after CLI_RUN_MS_MAX so a hung follow fails the test. */
async function cliRun(args: string[], env: Record<string, string>): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(CLI, ROOT).pathname, ...args],
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1" },
    signal: AbortSignal.timeout(CLI_RUN_MS_MAX),
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const lines = (run: Run) =>
  run.stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));

function ok(run: Run, what: string): Run {
  assert.equal(run.code, 0, `${what}: ${run.stderr}`);
  return run;
}

Deno.test("agent CLI publish → subscribe --count follows the topic, verified, and resumes with --cursor", async () => {
  await withRegion(async (_region, dir, cli) => {
    ok(await cli("keygen"), "keygen");
    const author = (await AgentKey.load(`${dir}/a.key.json`)).id;
    const since = Date.now();
    // Started first: it follows the topic while the messages are published.
    const following = cli("subscribe", "jobs.>", "--since", String(since), "--count", "2");
    for (const data of ['{"job":1}', '{"job":2}']) {
      const published = ok(await cli("publish", "jobs.eu", data), "publish");
      assert.equal(lines(published)[0].status, "accepted");
    }
    const followed = ok(await following, "subscribe");
    const got = lines(followed);
    assert.deepEqual(got.map((m) => [m.topic, m.author, m.seq, m.data]), [
      ["jobs.eu", author, 1, { job: 1 }],
      ["jobs.eu", author, 2, { job: 2 }],
    ]);
    const cursor = got[1].cursor;
    assert.equal(followed.stderr, `cursor ${cursor}: resume with --cursor ${cursor}\n`);

    ok(await cli("publish", "jobs.us", "plain words", "--ttl", "60000"), "publish");
    const resumed = ok(
      await cli("subscribe", "jobs.>", "--cursor", cursor, "--count", "1"),
      "resume",
    );
    assert.deepEqual(lines(resumed).map((m) => [m.topic, m.seq, m.data]), [
      ["jobs.us", 1, "plain words"],
    ]);
    const replayed = ok(
      await cli("subscribe", "jobs.eu", "--since", "0", "--count", "2"),
      "replay",
    );
    assert.deepEqual(lines(replayed).map((m) => m.data), [{ job: 1 }, { job: 2 }]);
    const state = JSON.parse(await Deno.readTextFile(`${dir}/a.key.seq.json`));
    assert.deepEqual(state.lastSeq, { "_topic:jobs.eu": 2, "_topic:jobs.us": 1 });
  });
});

Deno.test("agent CLI send → inbox decrypts → ack and inbox --ack → the inbox is empty", async () => {
  await withRegion(async (region, dir, cli) => {
    ok(await cli("keygen"), "keygen a");
    ok(await cli("keygen", "--key", `${dir}/b.key.json`), "keygen b");
    const [a, b] = await Promise.all(["a", "b"].map((n) => AgentKey.load(`${dir}/${n}.key.json`)));
    const asB = ["--key", `${dir}/b.key.json`];
    const payloads = [{ task: "translate", text: "héllo" }, ["second", 2]];
    for (const payload of payloads) {
      const sent = ok(await cli("send", b.id, JSON.stringify(payload)), "send");
      assert.equal(lines(sent)[0].status, "accepted");
    }
    const read = ok(await cli("inbox", ...asB), "inbox");
    const messages = lines(read);
    assert.deepEqual(messages.map((m) => [m.from, m.payload]), payloads.map((p) => [a.id, p]));
    assert.equal(read.stderr, "2 message(s)\n");
    assert.ok(!JSON.stringify(await rawInbox(region.url, b)).includes("translate"), "sealed");

    // Seq-state files lost (a new machine): the next seqs continue above the region's heads,
    // read with signed requests, instead of reusing seq 1 (which would quarantine the key).
    await Deno.remove(`${dir}/a.key.seq.json`);
    const third = ok(await cli("send", b.id, '"third"'), "send without seq state");
    assert.equal(lines(third)[0].status, "accepted", third.stderr);
    const acked = ok(await cli("ack", messages[0].id, ...asB), "ack");
    assert.equal(lines(acked)[0].status, "accepted");
    await Deno.remove(`${dir}/b.key.seq.json`);
    const rest = ok(await cli("inbox", ...asB, "--ack"), "inbox --ack");
    assert.deepEqual(lines(rest).map((m) => m.payload), [payloads[1], "third"]);
    assert.equal(rest.stderr, "2 message(s)\nacknowledged 2 message(s)\n");
    const empty = ok(await cli("inbox", ...asB), "inbox");
    assert.equal(empty.stdout, "");
    assert.equal(empty.stderr, "0 message(s)\n");
    assert.deepEqual((await rawInbox(region.url, b)).messages, []);
    const state = JSON.parse(await Deno.readTextFile(`${dir}/b.key.seq.json`));
    assert.deepEqual(state.lastSeq, { [`_inbox:${b.id}`]: 2 }, "the second acknowledgement");
    const sent = JSON.parse(await Deno.readTextFile(`${dir}/a.key.seq.json`));
    assert.deepEqual(sent.lastSeq, { [`_inbox:${b.id}`]: 3 });
  });
});

/** B's inbox as the region answers it, read with a request B signs. */
async function rawInbox(url: string, key: AgentKey): Promise<{ messages: unknown[] }> {
  return await new MeshClient(url).inbox(key);
}

Deno.test("a mailbox is read only with a request its owner signs", async () => {
  await withRegion(async (region) => {
    const [owner, other] = [AgentKey.generate(), AgentKey.generate()];
    const url = `${region.url}/v1/agents/${owner.id}/inbox`;
    const answers = [
      await fetch(url),
      await fetch(await signRequest(other, new Request(url))),
    ];
    for (const answer of answers) {
      await answer.body?.cancel();
      assert.ok([401, 403].includes(answer.status), `${answer.status}`);
    }
    await assert.rejects(
      new MeshClient(region.url).inbox(other, { limit: 257 }),
      (e) => e instanceof MeshHttpError && e.status === 400,
    );
  });
});

Deno.test("agent CLI messaging commands: help exits 0, usage errors exit 2, a refused message costs no seq", async () => {
  await withRegion(async (region, dir, cli) => {
    for (const command of ["publish", "subscribe", "send", "inbox", "ack"]) {
      const help = ok(await cli(command, "--help"), `${command} --help`);
      assert.match(help.stdout, new RegExp(`^Usage: deno task agent ${command}`));
      assert.match(ok(await cli("--help"), "--help").stdout, new RegExp(`\n  ${command} `));
    }
    ok(await cli("keygen"), "keygen");
    const usage: [string[], RegExp][] = [
      [["publish", "jobs eu", "1"], /^error: "jobs eu" is not a topic/],
      [["publish", "jobs"], /^error: publish needs the data/],
      [["publish", "jobs", "1", "--ttl", "999"], /^error: --ttl must be 1000 to 86400000 ms/],
      [["subscribe", "jobs.>.x"], /^error: "jobs.>.x" is not a subject/],
      [["send", "nope", "1"], /^error: "nope" is not an agent id/],
      [["inbox", "--limit", "257"], /^error: --limit must be an integer from 1 to 256/],
      [["inbox", "--after", "x"], /^error: --after must be a whole number/],
      [["ack"], /^error: ack needs at least one message id/],
      [["subscribe", "jobs", "--count", "x"], /^error: --count must be a whole number/],
    ];
    for (const [args, pattern] of usage) {
      const run = await cli(...args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, pattern);
    }
    const big = await cli("publish", "jobs", JSON.stringify("x".repeat(20_000)));
    assert.equal(big.code, 2, big.stderr);
    assert.match(big.stderr, /\(body_too_large\).*Nothing was sent and no seq was used/);
    const key = await AgentKey.load(`${dir}/a.key.json`);
    assert.equal((await new MeshClient(region.url).head("_topic:jobs", key.id)).max, 0);
    const nowhere = `http://127.0.0.1:${freePort()}`;
    const down = await cli("subscribe", "jobs", "--url", nowhere, "--count", "1");
    assert.equal(down.code, 1, "a region that is down at the start is an error, not a wait");
    assert.match(down.stderr, /^Cannot reach the region at /);
  });
});

Deno.test("agent CLI publish and subscribe sign their reads, so members read a members-only topic", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-messaging-members-" });
  const [alice, bob] = [AgentKey.generate(), AgentKey.generate()];
  await alice.save(`${dir}/alice.key.json`);
  await bob.save(`${dir}/bob.key.json`);
  const rule = { match: "team.*", policy: "allowlist", authors: [alice.id], read: "members" };
  await Deno.writeTextFile(`${dir}/admission.json`, JSON.stringify({ v: 1, channels: [rule] }));
  const region = await startRegionProcess({
    MESH_DATA: `${dir}/region`,
    MESH_REGION: "eu-1",
    MESH_ADMISSION: `${dir}/admission.json`,
  });
  const cli = (key: string, ...args: string[]) =>
    cliRun([...args, "--key", `${dir}/${key}.key.json`], { MESH_URL: region.url });
  try {
    for (const n of [1, 2]) { // the second reads alice's head in the topic, a members-only read
      const published = ok(await cli("alice", "publish", "team.plan", `{"step":${n}}`), "publish");
      assert.equal(lines(published)[0].status, "accepted");
    }
    const read = ok(
      await cli("alice", "subscribe", "team.plan", "--since", "0", "--count", "2"),
      "a",
    );
    assert.deepEqual(lines(read).map((m) => m.data), [{ step: 1 }, { step: 2 }]);
    const unsigned = await cli("nobody", "subscribe", "team.plan", "--since", "0", "--count", "1");
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stderr, /failed with 401: team\.plan is readable by its members only/);
    const other = await cli("bob", "subscribe", "team.plan", "--since", "0", "--count", "1");
    assert.equal(other.code, 1);
    assert.match(other.stderr, /failed with 403: The signer is not a member of team\.plan/);
  } finally {
    await region.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MeshClient.subscribe() resumes across a region restart with no message lost or repeated", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-messaging-restart-" });
  const env = { MESH_DATA: `${dir}/region`, MESH_REGION: "eu-1", PORT: String(freePort()) };
  let region = await startRegionProcess(env);
  const client = new MeshClient(region.url);
  const agent = new Agent(AgentKey.generate());
  const stop = new AbortController();
  const reconnects: unknown[] = [];
  const received: number[] = [];
  const subscription = (async () => {
    const messages = client.subscribe("jobs.*", {
      since: Date.now() - 1_000,
      signal: stop.signal,
      onReconnect: (why) => reconnects.push(why),
    });
    for await (const message of messages) {
      received.push((await verifyTopicEvent(message)).seq);
      if (received.length === 4) stop.abort();
    }
  })();
  const publish = async (n: number) => {
    const [result] = await client.publish("jobs.eu", [await signTopicMessage(agent, "jobs.eu", n)]);
    assert.equal(result.status, "accepted");
  };
  try {
    await publish(1);
    await publish(2);
    await waitFor(() => received.length === 2);
    // SIGKILL: a region holding an open event stream does not finish a SIGTERM shutdown (it
    // waits for the stream to end), and a crash is the harder case for resuming anyway.
    await region.stop("SIGKILL");
    region = await startRegionProcess(env);
    await publish(3);
    await publish(4);
    await subscription;
    assert.deepEqual(received, [1, 2, 3, 4]);
    assert.ok(reconnects.length >= 1, "the subscription reconnected");
  } finally {
    stop.abort();
    await subscription.catch(() => undefined); // its stream closed before the region stops
    await region.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

async function waitFor(done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("Timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
