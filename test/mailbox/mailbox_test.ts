/**
 * Mailboxes through `app.request()` on a real Deno KV (in memory): a sealed message is stored
 * and read back only by its recipient with a signed request; another agent's signature is 403,
 * none 401, a replay 401; the channel routes and listings never show a mailbox; the owner's
 * acknowledgement removes a message, and nobody else's can; an expired message is gone.
 */
import assert from "node:assert/strict";
import { openSealed, sealFor } from "../../src/crypto/sealed_message.ts";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { Registry } from "../../src/registry/registry.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { bodyOf, signBody, T0_MS, testAgent } from "../support/signing.ts";
import { ack, ackOf, directMessage, inbox, send } from "./_mail.ts";
import { ACK_SET, inboxChannel } from "../../src/protocol/message_kinds.ts";

async function withRegion(
  fn: (app: ReturnType<typeof meshRegionApp>, clock: { now: number }) => Promise<void>,
) {
  const store = await DenoKvStore.open(":memory:");
  const clock = { now: T0_MS + 1_000 };
  const now = () => clock.now;
  const registry = new Registry({ region: "eu-1", store, now });
  try {
    await fn(meshRegionApp({ region: "eu-1", store, now, registry }), clock);
  } finally {
    await registry.liveness.flush(now()).catch(() => 0);
    await store.close();
  }
}

Deno.test("only the recipient reads its mailbox, and reads ciphertext it alone can open", async () => {
  await withRegion(async (app, clock) => {
    const alice = testAgent(), bob = testAgent(), eve = testAgent();
    const sent = await directMessage(alice, bob.key.id, { task: "ocr", page: 3 });
    const [result] = await send(app, [sent]);
    assert.equal(result.status, "accepted");
    assert.equal((await send(app, [sent]))[0].status, "duplicate");
    assert.ok(!sent.body.includes("ocr"), "the region carries ciphertext only");

    const read = await inbox(app, bob, clock.now);
    assert.equal(read.status, 200);
    const { messages, more } = await read.json();
    assert.equal(more, false);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].from, alice.key.id);
    const plain = await openSealed(bob.key, messages[0].from, messages[0].enc, messages[0].ct);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(plain)), { task: "ocr", page: 3 });
    await assert.rejects(openSealed(eve.key, messages[0].from, messages[0].enc, messages[0].ct));

    const foreign = await inbox(app, bob, clock.now, eve);
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get("content-type"), "application/problem+json");
    const unsigned = await app.request(`/v1/agents/${bob.key.id}/inbox`);
    assert.equal(unsigned.status, 401);
    const url = `http://localhost/v1/agents/${bob.key.id}/inbox`;
    const once = await signRequest(bob.key, new Request(url), { nowMs: clock.now });
    const first = await app.request(once.clone());
    assert.equal(first.status, 200);
    await first.body?.cancel();
    const again = await app.request(once);
    assert.equal(again.status, 401, "a replayed signed read is refused");
  });
});

Deno.test("mailboxes are not readable or listed through the channel routes", async () => {
  await withRegion(async (app) => {
    const alice = testAgent(), bob = testAgent();
    await send(app, [await directMessage(alice, bob.key.id, "hi")]);
    const channel = inboxChannel(bob.key.id);
    for (const path of [`/v1/channels/${channel}`, `/v1/channels/${channel}/deltas`]) {
      const response = await app.request(path);
      assert.equal(response.status, 403, path);
      await response.body?.cancel();
    }
    const listed = await (await app.request("/v1/channels?prefix=_")).json();
    assert.deepEqual(listed.channels, []);
  });
});

Deno.test("acknowledging: the owner's ack removes a message; nobody else's is accepted", async () => {
  await withRegion(async (app, clock) => {
    const alice = testAgent(), bob = testAgent();
    const [m1, m2] = [
      await directMessage(alice, bob.key.id, 1),
      await directMessage(alice, bob.key.id, 2),
    ];
    const ids = (await send(app, [m1, m2])).map((r) => r.id);
    // The SDK will not sign it (every region refuses it); a hostile client signs it by hand.
    const forged = signBody(
      alice.key,
      JSON.stringify(bodyOf(alice.key, {
        channel: inboxChannel(bob.key.id),
        ts: T0_MS,
        ops: [{ op: "add", set: ACK_SET, elem: ids[0] }],
      })),
    );
    const viaDeltas = await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas: [forged] }),
    });
    assert.equal((await viaDeltas.json()).results[0].reason, "bad_ack");
    const acked = await ack(app, bob, [await ackOf(bob, [ids[0]])], clock.now);
    assert.equal(acked.status, 200);
    assert.equal((await acked.json()).results[0].status, "accepted");
    const left = await (await inbox(app, bob, clock.now)).json();
    assert.deepEqual(left.messages.map((m: { id: string }) => m.id), [ids[1]]);
    // Alice cannot acknowledge for Bob, not even through her own signed ack route.
    const { results } = await (await ack(app, alice, [forged], clock.now)).json();
    assert.equal(results[0].reason, "bad_ack");
    const stillThere = await (await inbox(app, bob, clock.now)).json();
    assert.equal(stillThere.messages.length, 1);
  });
});

Deno.test("an expired message is no longer listed; a message already expired is refused", async () => {
  await withRegion(async (app, clock) => {
    const alice = testAgent(), bob = testAgent();
    await send(app, [await directMessage(alice, bob.key.id, "soon", 5_000)]);
    assert.equal((await (await inbox(app, bob, clock.now)).json()).messages.length, 1);
    clock.now += 10_000;
    assert.equal((await (await inbox(app, bob, clock.now)).json()).messages.length, 0);
    const [late] = await send(app, [await directMessage(alice, bob.key.id, "late", 1_000)]);
    assert.equal(late.reason, "expired");
  });
});

Deno.test("the public /v1/sync/fetch never hands out a mailbox's deltas", async () => {
  const { InProcessMesh } = await import("../support/in_process_mesh.ts");
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }]);
  const alice = testAgent(), bob = testAgent();
  const message = await directMessage(alice, bob.key.id, "private");
  const [sent] = await send(mesh.region("eu-1").app, [message]);
  const response = await mesh.region("eu-1").app.request("/v1/sync/fetch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ids: [sent.id] }),
  });
  assert.equal(response.status, 200);
  assert.deepEqual((await response.json()).deltas, []);
});

Deno.test("an empty payload seals and is accepted; a sender reads its own head in a mailbox", async () => {
  await withRegion(async (app, clock) => {
    const alice = testAgent(), bob = testAgent(), eve = testAgent();
    const { enc, ct } = await sealFor(bob.key.id, alice.key.id, new Uint8Array(0));
    const empty = await alice.signNextOf(inboxChannel(bob.key.id), "message", (seq, ts, lc) => ({
      seq,
      to: bob.key.id,
      ts,
      lc,
      ttl: 60_000,
      enc,
      ct,
    }));
    assert.equal((await send(app, [empty]))[0].status, "accepted");
    const path = `/v1/channels/${inboxChannel(bob.key.id)}/authors/${alice.key.id}`;
    const head = (signer?: typeof alice) =>
      signer === undefined
        ? app.request(path)
        : signRequest(signer.key, new Request(`http://localhost${path}`), { nowMs: clock.now })
          .then((r) => app.request(r));
    const own = await head(alice);
    assert.equal(own.status, 200);
    assert.equal((await own.json()).max, 1);
    assert.equal((await head(bob)).status, 200, "the owner reads any sender's head");
    const stranger = await head(eve);
    assert.equal(stranger.status, 403);
    await stranger.body?.cancel();
    const unsigned = await head();
    assert.equal(unsigned.status, 401);
    await unsigned.body?.cancel();
  });
});
