import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { FileSeqLedger, type SeqLedger } from "../../src/client/seq_ledger.ts";

/** A ledger that reads, yields, then writes: correct only if its callers take turns. */
class RacyLedger implements SeqLedger {
  readonly last = new Map<string, number>();

  async claim(channel: string, floor = 0): Promise<number> {
    const seen = this.last.get(channel) ?? 0;
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    const seq = Math.max(seen, floor) + 1;
    this.last.set(channel, seq);
    return seq;
  }
}

const seqOf = (envelope: { body: string }) => JSON.parse(envelope.body).seq as number;

Deno.test("Agent.signNext() gives concurrent calls distinct gapless seqs in stamp order", async () => {
  let wall = 1_000;
  const agent = new Agent(AgentKey.generate(), new HybridClock(() => wall++), new RacyLedger());
  const signed = await Promise.all(
    Array.from(
      { length: 50 },
      (_, i) => agent.signNext(i % 2 ? "a" : "b", [{ op: "del", key: `${i}` }]),
    ),
  );
  for (const channel of ["a", "b"]) {
    const bodies = signed.map((e) => JSON.parse(e.body)).filter((b) => b.channel === channel);
    assert.deepEqual(bodies.map((b) => b.seq), Array.from({ length: 25 }, (_, i) => i + 1));
    const stamps = bodies.map((b) => b.ts);
    assert.deepEqual(stamps, [...stamps].sort((x, y) => x - y), "a later seq has a later stamp");
  }
});

Deno.test("Agent.signNext() fails only the call whose claim failed", async () => {
  let fail = true;
  const inner = new RacyLedger();
  const ledger: SeqLedger = {
    async claim(channel, floor) {
      if (fail) {
        fail = false;
        throw new Error("disk full");
      }
      return await inner.claim(channel, floor);
    },
  };
  const agent = new Agent(AgentKey.generate(), new HybridClock(), ledger);
  const [first, second] = await Promise.allSettled([
    agent.signNext("c", [{ op: "del", key: "x" }]),
    agent.signNext("c", [{ op: "del", key: "y" }]),
  ]);
  assert.equal(first.status, "rejected");
  assert.equal(second.status === "fulfilled" && seqOf(second.value), 1);
});

Deno.test("Agent.signNext() from two agents on one key file in one process never shares a seq", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-agent-" });
  try {
    const key = AgentKey.generate();
    await key.save(`${dir}/agent.key.json`);
    const agents = [0, 1, 2].map(() =>
      new Agent(key, new HybridClock(), new FileSeqLedger(`${dir}/agent.key.json`, key.id))
    );
    const signed = await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) => agents[i % 3].signNext("room", [{ op: "del", key: "k" }]),
      ),
    );
    assert.deepEqual(
      signed.map(seqOf).sort((a, b) => a - b),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Agent.resume() numbers later deltas above the seq the region holds", async () => {
  const agent = new Agent(AgentKey.generate());
  assert.equal(seqOf(agent.sign("c", [{ op: "del", key: "k" }])), 1);
  agent.resume("c", 7);
  assert.equal(seqOf(await agent.signNext("c", [{ op: "del", key: "k" }])), 8);
  agent.resume("c", 3);
  assert.equal(seqOf(agent.sign("c", [{ op: "del", key: "k" }])), 9);
});

Deno.test("Agent.sign() refuses to number in memory when the agent has a durable ledger", () => {
  const key = AgentKey.generate();
  const agent = new Agent(key, new HybridClock(), new FileSeqLedger("/nonexistent/k.json", key.id));
  assert.throws(() => agent.sign("c", [{ op: "del", key: "k" }]), /use Agent.signNext\(\)/);
});
