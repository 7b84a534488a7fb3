/**
 * Review of 02e30a1 (eager forwarding): "a peer is forwarded to only while its fan-out is idle
 * and caught up, one message at a time, so it still receives in log order".
 *
 * "Caught up" is `peer.behind === 0` as the leader instance's last drain saw it. Entries that
 * reach the region log without passing through this instance's `forward()` — a push or a relay
 * taken by another instance of the region (stateless edge functions share one store; only the
 * leader forwards), anything stored while this instance was not the leader, or a commit still in
 * flight when a drain ended with `behind === 0` (which also clears `unsent`) — leave `behind` at 0,
 * and the next forward overtakes them. Per-author order is not needed for convergence, but one
 * thing in the mesh does depend on order: a `certificate` channel's delta is admitted only if the
 * certificate is held or in the same batch. Overtaken, the peer answers `not_admitted` (the message
 * is still acknowledged), the id goes into `forwarded`, and the drain that then sends the
 * certificate skips the gated delta. Before the change the drain sent both in one message and the
 * peer admitted both; now the gated delta reaches the peer by anti-entropy only.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { certificateMessage, CERTIFICATES_CHANNEL } from "../../src/protocol/certificate.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { InProcessMesh, type InProcessRegion } from "../support/in_process_mesh.ts";
import { bodyOf, idOf, signBody } from "../support/signing.ts";
import { fanOutCursors } from "../../src/mesh/fan_out.ts";
import { logTotal } from "../../src/store/region_log.ts";

const ZONE = [{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }];

function signed(key: AgentKey, overrides: Record<string, unknown>): Envelope {
  return signBody(key, JSON.stringify(bodyOf(key, overrides)));
}

async function push(region: InProcessRegion, deltas: Envelope[]) {
  const response = await region.app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  return (await response.json()).results as { status: string; reason?: string }[];
}

async function holds(mesh: InProcessMesh, region: string, channel: string, id: string) {
  const page = await mesh.region(region).store.listArrivals(channel, 0, 1_000);
  return page.deltas.some((d) => d.id === id);
}

/**
 * eu-1 runs two instances over one store: i1 the leader, i2 another edge instance. An agent
 * publishes a certificate through i2, then (a second later) a delta of the gated channel through
 * i1. Returns the mesh and what eu-2 got by fan-out alone (no anti-entropy).
 */
async function scenario(forwardEagerly: boolean) {
  const operator = AgentKey.generate();
  const admission = parseAdmission(
    JSON.stringify({
      v: 1,
      operators: [operator.id],
      default: "open",
      channels: [{ match: "gated", policy: "certificate" }],
    }),
    "test.json",
  );
  const mesh = new InProcessMesh(ZONE, { admission, forwardEagerly });
  for (let i = 0; i < 8; i++) await mesh.tick();
  const i1 = mesh.region("eu-1");
  assert.ok(i1.node.lease.isLeader);
  const i2 = mesh.add("eu-1", i1.key, i1.store, "eu-1-i2");
  mesh.regions.set("eu-1", i1); // ticks and routing keep going to the leader instance
  assert.ok(!i2.node.lease.isLeader);

  const x = AgentKey.generate();
  const body = JSON.stringify({
    v: 1,
    author: x.id,
    channels: ["gated"],
    expires: mesh.nowMs + 3_600_000,
  });
  const certificate = signed(AgentKey.generate(), {
    channel: CERTIFICATES_CHANNEL,
    seq: 1,
    ts: mesh.nowMs,
    ops: [{
      op: "set",
      key: x.id,
      value: { body, sig: encodeBase64Url(operator.sign(certificateMessage(body))) },
    }],
  });
  const gated = signed(x, {
    channel: "gated",
    seq: 1,
    ts: mesh.nowMs,
    ops: [{ op: "set", key: "who", value: "x" }],
  });

  assert.equal((await push(i2, [certificate]))[0].status, "accepted");
  mesh.nowMs += 1_000; // past CERTIFICATES_REFRESH_MS: i1 sees the certificate in the store
  assert.equal((await push(i1, [gated]))[0].status, "accepted");
  for (let i = 0; i < 20; i++) await mesh.tick(); // 5 s of fan-out, no anti-entropy
  return {
    mesh,
    certificate: await holds(mesh, "eu-2", CERTIFICATES_CHANNEL, idOf(certificate)),
    gated: await holds(mesh, "eu-2", "gated", idOf(gated)),
  };
}

Deno.test("review (guard): with forwarding off, the drain delivers a certificate and the delta it admits together", async () => {
  const got = await scenario(false);
  assert.deepEqual({ certificate: got.certificate, gated: got.gated }, {
    certificate: true,
    gated: true,
  });
});

Deno.test({
  name:
    "review: an eager forward must not overtake log entries another instance wrote (certificate-gated delta left to anti-entropy)",
  // Was a defect (fixed; this guards it) (eager forward overtakes the log): mayForward trusts this instance's stale
  // `behind === 0`; the gated delta is forwarded before the certificate the drain has yet to send,
  // eu-2 answers not_admitted in an acknowledged message, the id lands in `forwarded`, and the
  // drain skips it. eu-2 gets it only from anti-entropy (seconds, and only if anti-entropy runs).
  async fn() {
    const got = await scenario(true);
    assert.equal(got.certificate, true, "the drain delivered the certificate");
    assert.equal(got.gated, true, "fan-out delivered the gated delta as it did before 02e30a1");
  },
});

Deno.test("review (guard): anti-entropy still repairs the overtaken gated delta (convergence holds)", async () => {
  const got = await scenario(true);
  const { mesh } = got;
  for (let r = 0; r < 4; r++) {
    await mesh.antiEntropy();
    await mesh.tick();
  }
  const views = await Promise.all(ZONE.map((r) => mesh.view(r.id, "gated")));
  assert.equal(new Set(views).size, 1, `equal gated views: ${views.join(" / ")}`);
  assert.equal(JSON.parse(views[0]).deltas, 1);
});

/** A promise with its resolve, for holding a step of the mesh until the test lets it go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const settle = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 1));
};

Deno.test({
  name:
    "review: one instance — a drain that ends while a commit is in flight must not clear `unsent` and let the next forward overtake it",
  // Was a defect (fixed; this guards it) (same root cause, single instance): the certificate's ingest marked eu-2 `unsent` (a
  // forward was in flight) but its commit had not landed when the drain woken by that forward
  // ended; that drain saw `behind === 0` and cleared `unsent`. The gated delta pushed right after
  // the certificate committed (before the kick's drain got past its first store read) was then
  // forwarded ahead of the certificate, refused not_admitted by eu-2, and skipped by the drain.
  async fn() {
    const operator = AgentKey.generate();
    const admission = parseAdmission(
      JSON.stringify({
        v: 1,
        operators: [operator.id],
        default: "open",
        channels: [{ match: "gated", policy: "certificate" }],
      }),
      "test.json",
    );
    const mesh = new InProcessMesh(ZONE, { admission });
    for (let i = 0; i < 8; i++) await mesh.tick();
    const eu1 = mesh.region("eu-1");
    const eu2 = mesh.region("eu-2");
    /** What eu-1 sent eu-2 in each peer message, with eu-2's answer per delta. */
    const trace: string[] = [];

    // eu-2's peer endpoint can be held; eu-1's commits of `_certificates` and its next logHeads too.
    let peerHold: ReturnType<typeof gate> | null = null;
    const peerArrived = gate();
    const realApp = eu2.app;
    mesh.regions.set("eu-2", {
      ...eu2,
      app: {
        request: async (path: string, init?: RequestInit) => {
          if (path.startsWith("/v1/peer/deltas") && peerHold !== null) {
            const hold = peerHold;
            peerHold = null;
            peerArrived.open();
            await hold.opened;
          }
          const response = await realApp.request(path, init);
          if (path.startsWith("/v1/peer/deltas")) {
            const sent = JSON.parse(String(init?.body)).deltas as Envelope[];
            const answer = await response.clone().json().catch(() => null);
            trace.push(
              sent.map((d, i) =>
                `${names.get(idOf(d)) ?? "?"}:${
                  answer?.results?.[i]?.reason ?? answer?.results?.[i]?.status ?? response.status
                }`
              ).join(","),
            );
          }
          return response;
        },
      } as unknown as typeof realApp,
    });
    let commitHold: ReturnType<typeof gate> | null = null;
    const commitArrived = gate();
    const realPut = eu1.store.putDeltas.bind(eu1.store);
    eu1.store.putDeltas = async (deltas, origin) => {
      if (commitHold !== null && deltas.some((d) => d.channel === CERTIFICATES_CHANNEL)) {
        const hold = commitHold;
        commitHold = null;
        commitArrived.open();
        await hold.opened;
      }
      return await realPut(deltas, origin);
    };
    let headHold: ReturnType<typeof gate> | null = null;
    const realHeads = eu1.store.logHeads.bind(eu1.store);
    eu1.store.logHeads = async () => {
      if (headHold !== null) {
        const hold = headHold;
        headHold = null;
        await hold.opened;
      }
      return await realHeads();
    };

    const x = AgentKey.generate();
    const body = JSON.stringify({
      v: 1,
      author: x.id,
      channels: ["gated"],
      expires: mesh.nowMs + 3_600_000,
    });
    const certificate = signed(AgentKey.generate(), {
      channel: CERTIFICATES_CHANNEL,
      seq: 1,
      ts: mesh.nowMs,
      ops: [{
        op: "set",
        key: x.id,
        value: { body, sig: encodeBase64Url(operator.sign(certificateMessage(body))) },
      }],
    });
    const gated = signed(x, {
      channel: "gated",
      seq: 1,
      ts: mesh.nowMs,
      ops: [{ op: "set", key: "who", value: "x" }],
    });
    const other = signed(AgentKey.generate(), { channel: "open", seq: 1, ts: mesh.nowMs });
    const names = new Map([
      [idOf(certificate), "certificate"],
      [idOf(gated), "gated"],
      [idOf(other), "other"],
    ]);

    // 1. An ordinary push is forwarded; eu-2 holds the request.
    const heldPeer = peerHold = gate();
    const pushOther = push(eu1, [other]);
    await peerArrived.opened;
    // 2. The certificate arrives meanwhile: eu-2 is marked unsent; its commit is slow.
    const heldCommit = commitHold = gate();
    const pushCertificate = push(eu1, [certificate]);
    await commitArrived.opened;
    // 3. The forward ends; the drain it wakes finds nothing behind (the commit has not landed).
    heldPeer.open();
    assert.equal((await pushOther)[0].status, "accepted");
    await settle();
    const acked = await eu1.store.getCursors(fanOutCursors("eu-2"));
    assert.equal(logTotal(acked), await eu1.store.logHead());
    // 4. The certificate commits; the drain its kick starts is on its first store read when the
    //    gated delta (admitted on the certificate now held here) is pushed.
    const heldHead = headHold = gate();
    heldCommit.open();
    assert.equal((await pushCertificate)[0].status, "accepted");
    assert.equal((await push(eu1, [gated]))[0].status, "accepted");
    await settle();
    heldHead.open();
    for (let i = 0; i < 20; i++) await mesh.tick(); // 5 s of fan-out, no anti-entropy
    assert.equal(await holds(mesh, "eu-2", CERTIFICATES_CHANNEL, idOf(certificate)), true);
    assert.equal(
      await holds(mesh, "eu-2", "gated", idOf(gated)),
      true,
      `fan-out delivered the gated delta after its certificate; eu-1 → eu-2: ${trace.join(" | ")}`,
    );
  },
});
