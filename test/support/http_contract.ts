/**
 * The region's HTTP contract as an agent sees it, run against any base URL: the same steps prove
 * a region served by Deno, by workerd (Miniflare) and by Vercel's edge runtime
 * (test/integration/runtimes_test.ts). Each step goes through the agent SDK over real HTTP, plus
 * raw requests for what the SDK never sends (bad input).
 */
import assert from "node:assert/strict";
import {
  Agent,
  type AgentCard,
  AgentKey,
  type Envelope,
  MeshClient,
  openDirectMessage,
  sealDirectMessage,
  signProposal,
  signTopicMessage,
  signVote,
  verifyProposalAnswer,
} from "../../src/client/mod.ts";

/** What the contract expects of the region under test. */
export interface ContractTarget {
  readonly url: string;
  /** Its MESH_REGION. */
  readonly region: string;
  /** Its store kind (`upstash`, `denokv`). */
  readonly store: string;
}

const PROBLEM_JSON = "application/problem+json";

function card(name: string, skill: string): AgentCard {
  return {
    name,
    description: `${name}, checking the region's contract`,
    version: "1.0.0",
    supportedInterfaces: [{ url: "https://agents.example/a2a", protocolBinding: "JSONRPC" }],
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: [{ id: skill, name: skill, description: "contract", tags: [skill] }],
  };
}

/** Asserts `answer` is problem+json of `slug` with `status`; returns its body. */
export async function assertProblem(answer: Response, status: number, slug: string) {
  const body = await answer.json();
  assert.equal(answer.status, status, JSON.stringify(body));
  assert.equal(answer.headers.get("content-type"), PROBLEM_JSON);
  assert.equal(body.type, `urn:mesh:problem:${slug}`);
  assert.equal(body.status, status);
  assert.equal(typeof body.detail, "string");
  return body;
}

/** What the steps share: the client, two agents, and the channel with the deltas pushed to it. */
interface Run {
  readonly target: ContractTarget;
  readonly client: MeshClient;
  readonly at: (path: string) => URL;
  readonly alice: Agent;
  readonly bob: Agent;
  readonly room: string;
  readonly pushed: Envelope[];
}

async function health({ target, client }: Run) {
  assert.deepEqual(await client.health(), {
    status: "ok",
    region: target.region,
    store: target.store,
  });
}

async function push({ client, pushed }: Run) {
  assert.deepEqual((await client.push(pushed)).map((r) => r.status), Array(3).fill("accepted"));
  assert.deepEqual((await client.push(pushed)).map((r) => r.status), Array(3).fill("duplicate"));
}

async function view({ client, alice, room }: Run) {
  const view = await client.view(room);
  assert.equal(view.map.greeting, "hello");
  assert.equal(view.counters.visits, 3n);
  assert.deepEqual(view.sets.tags, ["blue"]);
  assert.equal(view.heads[alice.key.id], 3);
  assert.equal(view.deltas, 3);
}

async function pull({ client, at, alice, room, pushed }: Run) {
  const tailed = [];
  for await (const e of client.tailAll(room)) tailed.push({ body: e.body, sig: e.sig });
  assert.deepEqual(tailed, pushed);
  assert.equal((await client.head(room, alice.key.id)).contiguous, 3);
  const list = await (await fetch(at(`/v1/channels?prefix=${room}`))).json();
  assert.deepEqual(list.channels, [{ channel: room, deltas: 3 }]);
}

async function longPolls({ client, alice }: Run) {
  const channel = `lp-${crypto.randomUUID().slice(0, 8)}`;
  await client.push([alice.sign(channel, [{ op: "set", key: "n", value: 1 }])]);
  const first = await client.view(channel);
  assert.equal(await client.viewChange(channel, first.fingerprint, 1), null, "nothing changed");
  const changed = client.viewChange(channel, first.fingerprint, 20);
  const tailed = client.tail(channel, "1", 10, 20);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await client.push([alice.sign(channel, [{ op: "set", key: "n", value: 2 }])]);
  assert.deepEqual((await changed)?.map, { n: 2 });
  assert.equal((await tailed).deltas.length, 1);
}

async function badInput({ client, at, alice, bob, room }: Run) {
  const post = (body: string) =>
    fetch(at("/v1/deltas"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
  await assertProblem(await post("{"), 400, "malformed-request");
  await assertProblem(await post('{"deltas":"no"}'), 400, "invalid-request");
  await assertProblem(await fetch(at("/v1/nowhere")), 404, "not-found");
  const put = await fetch(at("/v1/deltas"), { method: "PUT", body: "{}" });
  assert.equal(put.headers.get("allow"), "POST");
  await assertProblem(put, 405, "method-not-allowed");
  const forged = { ...alice.sign(room, [{ op: "set", key: "x", value: 1 }]) };
  forged.sig = bob.sign(room, [{ op: "set", key: "x", value: 1 }]).sig;
  const [result] = await client.push([forged]);
  assert.equal(result.status, "rejected");
  assert.equal((await client.view(room)).deltas, 3);
}

async function registry({ client, alice }: Run) {
  const skill = `contract-${crypto.randomUUID().slice(0, 8)}`;
  assert.equal((await alice.announce(client, card("Alice", skill))).status, "accepted");
  const page = await client.discover({ skill });
  assert.deepEqual(page.agents.map((a) => a.id), [alice.key.id]);
  assert.equal((await client.card(alice.key.id))?.card.name, "Alice");
}

async function topics({ client, alice }: Run) {
  const topic = `contract.${crypto.randomUUID().slice(0, 8)}`;
  const waiting = client.messages(topic, { since: Date.now() - 1_000, waitS: 20 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const [published] = await client.publish(topic, [
    await signTopicMessage(alice, topic, { n: 1 }),
  ]);
  assert.equal(published.status, "accepted");
  const page = await waiting;
  assert.deepEqual(page.messages.map((m) => m.data), [{ n: 1 }]);
}

async function mailbox({ client, at, alice, bob }: Run) {
  const [sent] = await client.send([await sealDirectMessage(alice, bob.key.id, { task: 7 })]);
  assert.equal(sent.status, "accepted");
  const inbox = await client.inbox(bob.key);
  assert.equal(inbox.messages.length, 1);
  assert.deepEqual((await openDirectMessage(bob.key, inbox.messages[0])).payload, { task: 7 });
  const stranger = await fetch(at(`/v1/agents/${bob.key.id}/inbox`));
  await assertProblem(stranger, 401, "unauthorized");
}

async function proposals({ client, alice, bob }: Run) {
  const { id, envelope } = await signProposal(alice, {
    title: "Ship it?",
    options: ["yes", "no"],
    deadline: Date.now() + 600_000,
    eligible: { agents: [alice.key.id, bob.key.id] },
  });
  assert.equal((await client.push([envelope]))[0].status, "accepted");
  const proposal = await client.proposal(id);
  assert.ok(await verifyProposalAnswer(proposal));
  assert.equal(proposal.state, "open");
  for (const voter of [alice, bob]) await client.push([await signVote(voter, proposal, "yes")]);
  const tallied = await client.proposal(id);
  assert.equal(tallied.tally.cast, 2);
  assert.equal(tallied.leading, "yes");
  const listed = await client.proposals({ state: "open" });
  assert.ok(listed.proposals.some((p) => p.id === id));
}

async function blobs({ client, at, alice }: Run) {
  const bytes = new TextEncoder().encode(`contract blob ${crypto.randomUUID()}`);
  const put = await client.putBlob(alice, bytes, { name: "contract.txt", type: "text/plain" });
  assert.equal(put.ref.status, "accepted");
  assert.deepEqual(await client.getBlob(put.sha256), bytes);
  assert.deepEqual(
    await client.getBlob(put.sha256, { range: { start: 0, end: 7 } }),
    bytes.slice(0, 8),
  );
  await assertProblem(await fetch(at(`/v1/blobs/${"0".repeat(64)}`)), 404, "not-found");
}

/** The steps, in order (later ones read what earlier ones wrote). */
const STEPS: readonly (readonly [string, (run: Run) => Promise<void>])[] = [
  ["GET /v1/health names the region and its store", health],
  ["POST /v1/deltas stores signed deltas once; a replay is duplicate", push],
  ["GET /v1/channels/{channel} folds the view", view],
  ["pull: the tail gives the envelopes back, author heads and the channel list", pull],
  ["long-polls: a waiting view read and a waiting tail answer when a push lands", longPolls],
  ["bad input is refused with problem+json, never stored", badInput],
  ["registry: an announced card is found by skill and read back verified", registry],
  ["topics: a long-poll waiting on a topic gets the message published meanwhile", topics],
  ["mailbox: a sealed message reaches its recipient's inbox only", mailbox],
  ["proposals: a proposal and its ballots are tallied and listed", proposals],
  ["blobs: PUT a signed upload, GET it whole and by range", blobs],
];

/** Runs every step of the contract against `target`, each as a test step. */
export async function runHttpContract(t: Deno.TestContext, target: ContractTarget) {
  const alice = new Agent(AgentKey.generate());
  const room = `room-${crypto.randomUUID().slice(0, 8)}`;
  const run: Run = {
    target,
    client: new MeshClient(target.url),
    at: (path) => new URL(path, target.url),
    alice,
    bob: new Agent(AgentKey.generate()),
    room,
    pushed: [
      alice.sign(room, [{ op: "set", key: "greeting", value: "hello" }]),
      alice.sign(room, [{ op: "inc", counter: "visits", by: 3 }]),
      alice.sign(room, [{ op: "add", set: "tags", elem: "blue" }]),
    ],
  };
  for (const [name, step] of STEPS) await t.step(name, () => step(run));
}
