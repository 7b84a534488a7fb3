import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { PeerClient } from "../../src/mesh/peer_client.ts";
import { TestMesh } from "../support/mesh_processes.ts";

const THREE = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

async function view(mesh: TestMesh, region: string, channel: string) {
  return await new MeshClient(mesh.region(region).url).view(channel);
}

/** Every region holds the same delta set (equal region fingerprints) of `count` deltas. */
async function converged(mesh: TestMesh, count: number): Promise<boolean> {
  const statuses = await mesh.statuses();
  return statuses.every((s) => s.deltas === count && s.fingerprint === statuses[0].fingerprint);
}

Deno.test({
  name: "a delta pushed to one region is readable from the others; time to visibility is measured",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({ regions: THREE });
    try {
      await mesh.untilEvery("leaders elected", (s) => s.leader?.self === true, 10_000);
      const agent = new Agent(AgentKey.generate());
      const client = new MeshClient(mesh.region("eu-1").url);
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const [result] = await client.push([
          agent.sign("room", [{ op: "inc", counter: "n", by: 1 }]),
        ]);
        assert.equal(result.status, "accepted");
        const ms = await mesh.until(`delta ${i} visible in eu-2 and us-1`, async () => {
          const [b, c] = await Promise.all([
            view(mesh, "eu-2", "room"),
            view(mesh, "us-1", "room"),
          ]);
          return b.deltas === i + 1 && c.deltas === i + 1;
        }, 10_000);
        times.push(ms);
      }
      console.log(
        `push → visible in every region: ${
          times.map((t) => t.toFixed(0)).join(", ")
        } ms (polled every 50 ms)`,
      );
      const views = await Promise.all(
        THREE.map((r) => fetch(`${mesh.region(r.id).url}/v1/channels/room`).then((x) => x.text())),
      );
      assert.equal(new Set(views).size, 1, "byte-identical views in every region");
    } finally {
      await mesh.stop();
    }
  },
});

Deno.test({
  name: "partition {A} | {B, C}: A reports minority, writes on both sides converge after the heal",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({ regions: THREE });
    try {
      await mesh.untilEvery("everyone reaches everyone", (s) => s.reachable.length === 3, 10_000);
      mesh.partition([["eu-1"], ["eu-2", "us-1"]]);
      const detectMs = await mesh.until(
        "eu-1 sees itself in a minority",
        async () => (await mesh.status("eu-1")).partition === "minority",
        5_000,
      );
      await mesh.until("eu-2 and us-1 stay in the majority", async () => {
        const [b, c] = await Promise.all([mesh.status("eu-2"), mesh.status("us-1")]);
        return b.partition === "majority" && c.partition === "majority" &&
          !b.reachable.includes("eu-1");
      }, 5_000);
      console.log(
        `partition detected by the cut-off region after ${
          detectMs.toFixed(0)
        } ms (250 ms heartbeats)`,
      );
      const a = new Agent(AgentKey.generate()), b = new Agent(AgentKey.generate());
      const left = await new MeshClient(mesh.region("eu-1").url).push(
        Array.from(
          { length: 60 },
          (_, i) => a.sign("room", [{ op: "set", key: `a${i}`, value: i }]),
        ),
      );
      const right = await new MeshClient(mesh.region("eu-2").url).push(
        Array.from(
          { length: 60 },
          (_, i) => b.sign("room", [{ op: "set", key: `b${i}`, value: i }]),
        ),
      );
      assert.ok([...left, ...right].every((r) => r.status === "accepted"));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await view(mesh, "eu-1", "room")).deltas, 60, "nothing crosses the cut");
      mesh.heal();
      const healMs = await mesh.until("all three converge", () => converged(mesh, 120), 20_000);
      console.log(`converged ${healMs.toFixed(0)} ms after the heal`);
      const views = await Promise.all(
        THREE.map((r) => fetch(`${mesh.region(r.id).url}/v1/channels/room`).then((x) => x.text())),
      );
      assert.equal(new Set(views).size, 1);
      assert.equal(JSON.parse(views[0]).deltas, 120);
    } finally {
      await mesh.stop();
    }
  },
});

Deno.test({
  name: "drops, delays, duplicates and reordering between regions lose nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({ regions: THREE });
    try {
      console.log(`chaos seed ${mesh.seed}`);
      mesh.setLinks({ drop: 0.3, delayMs: 20, jitterMs: 20, duplicate: 0.2, reorder: true });
      const agents = [
        new Agent(AgentKey.generate()),
        new Agent(AgentKey.generate()),
        new Agent(AgentKey.generate()),
      ];
      let total = 0;
      for (let round = 0; round < 10; round++) {
        await Promise.all(THREE.map(async (r, i) => {
          const deltas = Array.from(
            { length: 10 },
            () =>
              agents[i].sign("room", [{ op: "add", set: "s", elem: `${r.id}-${round}` }, {
                op: "inc",
                counter: "n",
                by: 1,
              }]),
          );
          const results = await new MeshClient(mesh.region(r.id).url).push(deltas);
          total += results.filter((x) => x.status === "accepted").length;
        }));
      }
      assert.equal(total, 300);
      await mesh.until("all three converge through the chaos", () => converged(mesh, 300), 30_000);
      const v = await view(mesh, "us-1", "room");
      assert.equal(v.counters.n, 300n);
    } finally {
      await mesh.stop();
    }
  },
});

Deno.test({
  name: "a region killed mid-fan-out loses nothing: after its restart every region has every delta",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({ regions: THREE });
    try {
      await mesh.until(
        "leaders elected",
        async () => (await mesh.status("eu-1")).leader?.self === true,
        10_000,
      );
      // Keep the fan-out busy when the kill comes: a drain sends two pages of 1,024 deltas in one
      // round trip, so the link must be slow enough that they are still on their way.
      mesh.setLinks({ delayMs: 200 });
      const agent = new Agent(AgentKey.generate());
      const deltas = Array.from(
        { length: 1_500 },
        (_, i) => agent.sign("room", [{ op: "set", key: `k${i % 50}`, value: i }]),
      );
      const results = await new MeshClient(mesh.region("eu-1").url).push(deltas);
      assert.ok(results.every((r) => r.status === "accepted"));
      await mesh.stopRegion("eu-1", true); // SIGKILL, mid-fan-out
      const before = (await mesh.status("us-1")).deltas;
      assert.ok(before < 1_500, `the kill came mid-fan-out (us-1 had ${before})`);
      mesh.heal();
      await mesh.startRegion("eu-1");
      await mesh.until("every region has all 1500", () => converged(mesh, 1_500), 30_000);
    } finally {
      await mesh.stop();
    }
  },
});

Deno.test({
  name:
    "when the leader instance dies another takes over with a higher epoch, and the old epoch is refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({ regions: THREE, leaseTtlMs: 1_500 });
    try {
      const eu1 = mesh.region("eu-1");
      // A second instance of eu-1 on the same store (same data directory), another port.
      const { startRegionProcess, freePort } = await import("../support/region_process.ts");
      const second = await startRegionProcess({ ...eu1.env, PORT: String(freePort()) });
      try {
        const first = await mesh.until(
          "one eu-1 instance leads",
          async () => (await mesh.status("eu-1")).leader !== null,
          10_000,
        );
        void first;
        const lease = (await mesh.status("eu-1")).leader!;
        const leaderIsFirst = lease.holder === (await mesh.status("eu-1")).instance;
        const oldEpoch = lease.epoch;
        // Kill whichever instance leads.
        if (leaderIsFirst) await mesh.stopRegion("eu-1", true);
        else await second.stop("SIGKILL");
        const survivor = leaderIsFirst ? second.url : eu1.url;
        const started = performance.now();
        await mesh.until("the survivor takes over", async () => {
          const s = await (await fetch(`${survivor}/v1/status`)).json();
          return s.leader?.self === true && s.leader.epoch > oldEpoch;
        }, 3 * 1_500);
        console.log(
          `takeover after ${(performance.now() - started).toFixed(0)} ms (lease 1500 ms)`,
        );
        // Peers learn the new epoch from the new leader's heartbeats; then the old one is fenced.
        await mesh.until("eu-2 saw the new epoch", async () => {
          const s = await mesh.status("eu-2");
          return (s.peers.find((p) => p.id === "eu-1") as { epoch?: number } | undefined)?.epoch! >
            oldEpoch;
        }, 5_000);
        const stale = new PeerClient({ self: "eu-1", key: AgentKey.fromSecret(eu1.secret) });
        const eu2 = { id: "eu-2", zone: "eu", url: mesh.region("eu-2").url, publicKey: "" };
        const refused = await stale.send(eu2, "/v1/peer/heartbeat", "heartbeat", oldEpoch, {
          summary: {
            region: "eu-1",
            epoch: oldEpoch,
            logHead: 0,
            deltas: 0,
            fingerprint: "x",
            reachable: ["eu-1"],
            partition: "majority",
          },
        });
        assert.equal(refused.ok, false);
        assert.equal(refused.status, 409);
        assert.match(refused.ok ? "" : refused.error, /stale_epoch/);
      } finally {
        await second.stop().catch(() => undefined);
      }
    } finally {
      await mesh.stop();
    }
  },
});

Deno.test({
  name:
    "a Byzantine region (valid key) altering, forging and withholding relayed deltas: honest regions reject them and all converge on the genuine ones",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { SIGNATURE_HEADER, signRegionMessage } = await import(
      "../../src/mesh/region_message.ts"
    );
    const { parseEnvelope } = await import("../../src/protocol/envelope.ts");
    const { verifyEd25519 } = await import("../../src/crypto/mod.ts");
    const { bodyOf, signBody } = await import("../support/signing.ts");
    const mesh = await TestMesh.start({ regions: THREE });
    try {
      const byzantine = AgentKey.fromSecret(mesh.region("eu-2").secret);
      let altered = 0, forged = 0, withheld = 0, n = 0;
      for (const to of ["eu-1", "us-1"]) {
        mesh.links.get(`eu-2>${to}`)!.rewrite = (path, body) => {
          if (path !== "/v1/peer/deltas") return null;
          const message = JSON.parse(new TextDecoder().decode(body));
          message.deltas = (message.deltas as { body: string; sig: string }[]).flatMap((d) => {
            const k = n++ % 5;
            if (k === 0) {
              altered++;
              return [{ body: d.body.replace(/"value":(\d+)/, '"value":666'), sig: d.sig }];
            }
            if (k === 1) {
              withheld++;
              return [];
            }
            return [d];
          });
          const victim = AgentKey.generate();
          message.deltas.push(
            signBody(
              AgentKey.generate(),
              JSON.stringify(bodyOf(victim, { channel: "room", ts: Date.now() })),
            ),
          );
          forged++;
          const signed = signRegionMessage((b) => byzantine.sign(b), message);
          return {
            body: new TextEncoder().encode(signed.body),
            headers: new Headers({ [SIGNATURE_HEADER]: signed.signature }),
          };
        };
      }
      await mesh.untilEvery("leaders elected", (s) => s.leader?.self === true, 10_000);
      const agents = THREE.map(() => new Agent(AgentKey.generate()));
      for (let round = 0; round < 4; round++) {
        await Promise.all(THREE.map(async (r, i) => {
          const deltas = Array.from(
            { length: 15 },
            (_, k) =>
              agents[i].sign("room", [{ op: "set", key: `${r.id}-${k}`, value: round * 100 + k }]),
          );
          const results = await new MeshClient(mesh.region(r.id).url).push(deltas);
          assert.ok(results.every((x) => x.status === "accepted"));
        }));
      }
      await mesh.until(
        "all converge on the 180 genuine deltas",
        () => converged(mesh, 180),
        30_000,
      );
      assert.ok(
        altered > 0 && forged > 0 && withheld > 0,
        `altered ${altered}, forged ${forged}, withheld ${withheld}`,
      );
      for (const id of ["eu-1", "us-1"]) {
        for await (const d of new MeshClient(mesh.region(id).url).tailAll("room")) {
          const parsed = parseEnvelope({ body: d.body, sig: d.sig }, Date.now());
          assert.ok(
            parsed.ok && await verifyEd25519(parsed.publicKey, parsed.signature, parsed.message),
            `${id} stored a forged delta`,
          );
        }
      }
    } finally {
      await mesh.stop();
    }
  },
});
