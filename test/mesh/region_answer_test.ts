/**
 * Answers to region messages are signed by the answering region and bound to the request they
 * answer (its nonce and body hash). A man in the middle that alters an answer, replays an old one
 * for a new request, or swaps the answers of two requests makes the asking region see a failure;
 * so does a Byzantine answering region whose results do not match the deltas it was sent.
 */
import assert from "node:assert/strict";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { DELTA_BODY_BYTES_MAX } from "../../src/protocol/limits.ts";
import { fanOutCursors } from "../../src/mesh/fan_out.ts";
import { logTotal } from "../../src/store/region_log.ts";
import type { DeltaResult } from "../../src/region/ingest.ts";
import { FANOUT_BACKOFF_MS_MAX, MeshNode } from "../../src/mesh/mesh_node.ts";
import { envelopeId, type PeerAnswer, PeerClient } from "../../src/mesh/peer_client.ts";
import { RegionIndex } from "../../src/mesh/region_index.ts";
import {
  answerHead,
  type MessageHead,
  SIGNATURE_HEADER,
  signRegionAnswer,
  signRegionMessage,
} from "../../src/mesh/region_message.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { Rng } from "../support/seeded_rng.ts";
import { bodyOf, idOf, signBody, testAgent } from "../support/signing.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

/** What the wire does with one request: `forward()` delivers it and gives the real answer. */
type Wire = (path: string, body: string, forward: () => Promise<Response>) => Promise<Response>;

const honestWire: Wire = (_path, _body, forward) => forward();

async function settledMesh(): Promise<InProcessMesh> {
  const mesh = new InProcessMesh(LAYOUT);
  for (let i = 0; i < 8; i++) await mesh.tick();
  return mesh;
}

/** A fetch from one region to the in-process apps, through `wire()`. */
function fetchVia(mesh: InProcessMesh, wire: () => Wire): typeof fetch {
  return (input, init) => {
    const url = new URL(String(input));
    const to = url.hostname.split(".")[0];
    return wire()(
      url.pathname,
      String(init?.body),
      async () => await mesh.region(to).app.request(url.pathname, init),
    );
  };
}

/** eu-1's client to the other regions, through `wire`. */
function clientOf(mesh: InProcessMesh, wire: Wire): PeerClient {
  return new PeerClient({
    self: "eu-1",
    key: mesh.region("eu-1").key,
    now: () => mesh.nowMs,
    fetch: fetchVia(mesh, () => wire),
  });
}

function pushDeltas(
  mesh: InProcessMesh,
  client: PeerClient,
  deltas: unknown[],
): Promise<PeerAnswer<{ results: DeltaResult[] }>> {
  return client.send<{ results: DeltaResult[] }>(
    mesh.topology.region("eu-2")!,
    "/v1/peer/deltas",
    "deltas",
    mesh.region("eu-1").node.lease.epoch,
    { origin: "zone", deltas },
  );
}

function heartbeat(mesh: InProcessMesh, client: PeerClient) {
  return client.send<{ summary: { region: string } }>(
    mesh.topology.region("eu-2")!,
    "/v1/peer/heartbeat",
    "heartbeat",
    mesh.region("eu-1").node.lease.epoch,
    {
      summary: {
        region: "eu-1",
        epoch: mesh.region("eu-1").node.lease.epoch,
        logHead: 0,
        deltas: 0,
        fingerprint: "x",
        reachable: ["eu-1", "eu-2", "us-1"],
        partition: "majority",
      },
    },
  );
}

/** The same answer with its body edited and its headers (signature included) kept. */
async function edited(response: Response, edit: (text: string) => string): Promise<Response> {
  const text = await response.text();
  return new Response(edit(text), { status: response.status, headers: response.headers });
}

function failure(answer: PeerAnswer<unknown>): string {
  assert.equal(answer.ok, false, "the answer must be a failure");
  return answer.ok ? "" : answer.error;
}

Deno.test("PeerClient.send() takes an honest signed answer bound to its request", async () => {
  const mesh = await settledMesh();
  const client = clientOf(mesh, honestWire);
  const d = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  const unparseable = { body: 5, sig: "x" };
  const answer = await pushDeltas(mesh, client, [d, unparseable]);
  assert.ok(answer.ok, answer.ok ? "" : answer.error);
  assert.deepEqual(answer.body.results.map((r) => [r.id, r.status]), [
    [idOf(d), "accepted"],
    [null, "rejected"],
  ]);
  assert.ok(answer.rttMs >= 0);
  const beat = await heartbeat(mesh, client);
  assert.ok(beat.ok, beat.ok ? "" : beat.error);
  assert.equal(beat.body.summary.region, "eu-2");
});

Deno.test("PeerClient.send() refuses an answer altered on the wire", async () => {
  const mesh = await settledMesh();
  const client = clientOf(mesh, async (_path, _body, forward) =>
    await edited(
      await forward(),
      (text) =>
        text.replace(
          '"status":"accepted"',
          '"status":"rejected","reason":"seq_conflict","detail":"forged"',
        ),
    ));
  const d = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.match(failure(await pushDeltas(mesh, client, [d])), /bad_signature/);
});

Deno.test("PeerClient.send() refuses an answer without a valid signature, or an error made 200", async () => {
  const mesh = await settledMesh();
  const strip: Wire = async (_path, _body, forward) => {
    const response = await forward();
    const headers = new Headers(response.headers);
    headers.delete(SIGNATURE_HEADER);
    return new Response(await response.text(), { status: 200, headers });
  };
  const d = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.match(failure(await pushDeltas(mesh, clientOf(mesh, strip), [d])), /bad_signature/);
  // A refusal (400: origin `remote` from the same zone) turned into a 200 is still no answer.
  const refused = await clientOf(mesh, strip).send(
    mesh.topology.region("eu-2")!,
    "/v1/peer/deltas",
    "deltas",
    mesh.region("eu-1").node.lease.epoch,
    { origin: "remote", deltas: [] },
  );
  assert.match(failure(refused), /bad_signature/);
});

Deno.test("PeerClient.send() refuses an old answer replayed for a new request", async () => {
  const mesh = await settledMesh();
  let old: { text: string; headers: Headers } | null = null;
  const client = clientOf(mesh, async (_path, _body, forward) => {
    const response = await forward();
    if (old === null) {
      old = { text: await response.text(), headers: response.headers };
      return new Response(old.text, { status: 200, headers: old.headers });
    }
    await response.body?.cancel();
    return new Response(old.text, { status: 200, headers: old.headers });
  });
  const agent = testAgent(() => mesh.nowMs);
  const first = await pushDeltas(mesh, client, [
    agent.sign("room", [{ op: "inc", counter: "n", by: 1 }]),
  ]);
  assert.ok(first.ok);
  const again = agent.sign("room", [{ op: "inc", counter: "n", by: 2 }]);
  assert.match(failure(await pushDeltas(mesh, client, [again])), /unbound/);
  // The same request bytes cannot be sent twice (a fresh nonce each time), so even an answer to
  // an identical-looking request does not fit: a second empty push gets the first one's answer.
  old = null;
  assert.ok((await pushDeltas(mesh, client, [])).ok);
  assert.match(failure(await pushDeltas(mesh, client, [])), /unbound/);
});

Deno.test("PeerClient.send() refuses answers swapped between two requests", async () => {
  const mesh = await settledMesh();
  const arrived: { response: Response; give: (r: Response) => void }[] = [];
  const swap: Wire = async (_path, _body, forward) => {
    const response = await forward();
    return await new Promise<Response>((give) => {
      arrived.push({ response, give });
      if (arrived.length === 2) {
        arrived[0].give(arrived[1].response);
        arrived[1].give(arrived[0].response);
        arrived.length = 0;
      }
    });
  };
  const client = clientOf(mesh, swap);
  const agent = testAgent(() => mesh.nowMs);
  const [a, b] = await Promise.all([
    pushDeltas(mesh, client, [agent.sign("room", [{ op: "set", key: "a", value: 1 }])]),
    pushDeltas(mesh, client, [agent.sign("room", [{ op: "set", key: "b", value: 2 }])]),
  ]);
  assert.match(failure(a), /unbound/);
  assert.match(failure(b), /unbound/);
  const beats = await Promise.all([heartbeat(mesh, client), heartbeat(mesh, client)]);
  for (const beat of beats) assert.match(failure(beat), /unbound/);
});

/** A Byzantine eu-2 (its real key) answering a `deltas` request with `results`, bound and signed. */
function byzantineAnswer(mesh: InProcessMesh, results: (sent: unknown[]) => unknown[]): Wire {
  return async (_path, body, forward) => {
    await (await forward()).body?.cancel();
    const request = JSON.parse(body) as MessageHead & { deltas: unknown[] };
    const signed = signRegionAnswer((b) => mesh.region("eu-2").key.sign(b), {
      ...answerHead(request, body),
      results: results(request.deltas),
    });
    return new Response(signed.body, {
      status: 200,
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signed.signature },
    });
  };
}

Deno.test("PeerClient.send() refuses a signed deltas answer whose results do not match the deltas sent", async () => {
  const mesh = await settledMesh();
  const agent = testAgent(() => mesh.nowMs);
  const d = agent.sign("room", [{ op: "set", key: "k", value: 1 }]);
  const other = agent.sign("room", [{ op: "set", key: "k", value: 2 }]);
  const conflict = (id: string | null) => ({
    id,
    status: "rejected",
    reason: "seq_conflict",
    detail: "forged",
  });
  // The attack of issue 8 item 2: a forged seq_conflict for a delta it was never sent.
  const forged = clientOf(mesh, byzantineAnswer(mesh, () => [conflict(idOf(other))]));
  assert.match(failure(await pushDeltas(mesh, forged, [d])), /result 0 is for/);
  const extra = clientOf(
    mesh,
    byzantineAnswer(mesh, (sent) => [
      ...sent.map((e) => ({ id: idOf(e as typeof d), status: "accepted" })),
      conflict(idOf(other)),
    ]),
  );
  assert.match(failure(await pushDeltas(mesh, extra, [d])), /2 results for the 1 deltas/);
  const none = clientOf(mesh, byzantineAnswer(mesh, () => []));
  assert.match(failure(await pushDeltas(mesh, none, [d])), /0 results for the 1 deltas/);
  const nullId = clientOf(mesh, byzantineAnswer(mesh, () => [conflict(null)]));
  assert.match(failure(await pushDeltas(mesh, nullId, [d])), /result 0 is for null/);
  const honest = clientOf(
    mesh,
    byzantineAnswer(mesh, (sent) => sent.map((e) => ({ id: envelopeId(e), status: "duplicate" }))),
  );
  assert.ok((await pushDeltas(mesh, honest, [d])).ok, "a matching answer is taken");
});

Deno.test("PeerClient.send() refuses an answer signed by another region or under the request tag", async () => {
  const mesh = await settledMesh();
  const d = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  const resign = (sign: (head: Record<string, unknown>) => { body: string; signature: string }) =>
    clientOf(mesh, async (_path, _body, forward) => {
      const signed = sign(JSON.parse(await (await forward()).text()));
      return new Response(signed.body, {
        status: 200,
        headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signed.signature },
      });
    });
  // us-1 is in the topology, but it was not asked.
  const us1 = resign((a) => signRegionAnswer((b) => mesh.region("us-1").key.sign(b), a as never));
  assert.match(failure(await pushDeltas(mesh, us1, [d])), /bad_signature/);
  // eu-2's key over the request tag: a region message, not an answer.
  const requestTag = resign((a) =>
    signRegionMessage((b) => mesh.region("eu-2").key.sign(b), a as never)
  );
  assert.match(failure(await pushDeltas(mesh, requestTag, [d])), /bad_signature/);
  // eu-2's key, but claiming to be another region's answer, or addressed to another region.
  for (const [field, value] of [["from", "us-1"], ["to", "us-1"]]) {
    const misnamed = resign((a) =>
      signRegionAnswer((b) => mesh.region("eu-2").key.sign(b), { ...a, [field]: value } as never)
    );
    assert.match(failure(await pushDeltas(mesh, misnamed, [d])), /wrong_signer/);
  }
});

Deno.test("an answer cannot be replayed as a request", async () => {
  const mesh = await settledMesh();
  let captured: { body: string; signature: string } | null = null;
  const client = clientOf(mesh, async (_path, _body, forward) => {
    const response = await forward();
    const body = await response.text();
    captured = { body, signature: response.headers.get(SIGNATURE_HEADER)! };
    return new Response(body, { status: 200, headers: response.headers });
  });
  assert.ok((await pushDeltas(mesh, client, [])).ok);
  const answer = captured!;
  const refused = await mesh.region("eu-1").app.request("/v1/peer/deltas", {
    method: "POST",
    headers: { "content-type": "application/json", [SIGNATURE_HEADER]: answer.signature },
    body: answer.body,
  });
  assert.ok(refused.status >= 400 && refused.status < 500, `status ${refused.status}`);
  await refused.body?.cancel();
});

Deno.test("envelopeId() names the id a region reports for every envelope parseEnvelope sees", () => {
  const key = AgentKey.generate();
  const valid = signBody(key, JSON.stringify(bodyOf(key)));
  const envelopes: unknown[] = [
    valid,
    { ...valid, sig: "short" },
    signBody(key, "{not json"),
    signBody(key, JSON.stringify(bodyOf(key, { seq: 0 }))),
    signBody(key, JSON.stringify(bodyOf(key, { ts: 9e15 }))),
    signBody(key, JSON.stringify(bodyOf(key, { channel: "_reserved" }))),
    { body: "\ud800", sig: valid.sig },
    { body: "x".repeat(DELTA_BODY_BYTES_MAX + 1), sig: valid.sig },
    { body: valid.body, sig: valid.sig, extra: 1 },
    { body: valid.body },
    [valid.body, valid.sig],
    null,
    "text",
  ];
  for (const [i, e] of envelopes.entries()) {
    const parsed = parseEnvelope(e, Date.now());
    assert.equal(envelopeId(e), parsed.ok ? parsed.delta.id : parsed.id, `envelope ${i}`);
  }
});

Deno.test("MeshNode fan-out counts a delta delivered only on an untampered, bound answer", async () => {
  const mesh = await settledMesh();
  const eu1 = mesh.region("eu-1");
  let wire: Wire = async (_path, _body, forward) =>
    await edited(await forward(), (text) => text.replace('"accepted"', '"duplicate"'));
  // Another instance of eu-1 (same store and key) whose requests pass a man in the middle.
  const rng = new Rng(8);
  const node = new MeshNode({
    self: mesh.topology.region("eu-1")!,
    topology: mesh.topology,
    key: eu1.key,
    store: eu1.store,
    index: new RegionIndex(eu1.store),
    verify: verifyEd25519,
    instance: "eu-1-behind-mitm",
    now: () => mesh.nowMs,
    fetch: fetchVia(mesh, () => wire),
    leaseTtlMs: 3_000,
    peerTimeoutMs: 60_000,
    random: () => rng.next(),
  });
  mesh.nowMs += 4_000; // the first instance's lease runs out; it is not ticked again
  await node.leaseTick();
  assert.equal(node.lease.isLeader, true);
  const d = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-1", [d]))[0].status, "accepted");
  const cursor = async () => logTotal(await eu1.store.getCursors(fanOutCursors("eu-2")));
  const before = await cursor();
  await node.fanOutTick();
  // eu-2 stored it, but eu-1 cannot know that from an altered answer: the delta stays queued.
  assert.equal(JSON.parse(await mesh.view("eu-2", "room")).deltas, 1);
  assert.equal(await cursor(), before, "not acknowledged");
  const peer = (await node.status()).peers.find((p) => p.id === "eu-2")!;
  assert.ok(peer.fanOutFailures >= 1);
  wire = honestWire;
  mesh.nowMs += FANOUT_BACKOFF_MS_MAX + 1; // past the back-off
  await node.leaseTick();
  await node.fanOutTick();
  assert.ok(await cursor() > before, "acknowledged by an honest answer");
  assert.equal((await node.status()).peers.find((p) => p.id === "eu-2")!.fanOutFailures, 0);
});
