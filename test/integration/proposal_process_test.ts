/**
 * Proposals across real region processes (each `main.ts` with its own Deno KV, linked through
 * chaos proxies) driven by the agent CLI: a proposal made on eu-1 with an electorate from the
 * registry, ballots cast on both regions (one voter changing its mind, one voting twice with one
 * seq from two machines), and then every region reports the same decided outcome, announces it
 * on `mesh.proposals` signed with its region key, and the CLI prints it verified.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { TestMesh } from "../support/mesh_processes.ts";
import { runDeno } from "../support/region_process.ts";
import { card } from "../registry/_cards.ts";
import { signedBallot } from "../proposals/_proposals.ts";

const TWO = [{ id: "eu-1", zone: "eu" }, { id: "us-1", zone: "us" }];
const CLI = "src/client/cli.ts";

/** Polls `get` every 100 ms until it gives a value other than false; throws at `timeoutMs`. */
async function poll<T>(what: string, get: () => Promise<T | false>, timeoutMs: number): Promise<T> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    const value = await get().catch(() => false as const);
    if (value !== false) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not after ${timeoutMs} ms`);
}

Deno.test({
  name:
    "proposals across region processes: CLI propose and vote, one outcome everywhere, announced",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({ regions: TWO });
    const dir = await Deno.makeTempDir({ prefix: "mesh-proposal-" });
    try {
      await mesh.untilEvery("leaders elected", (s) => s.leader?.self === true, 10_000);
      const [eu1, us1] = TWO.map((r) => mesh.region(r.id).url);
      const cli = async (url: string, who: string, ...args: string[]) => {
        const run = await runDeno(CLI, [...args, "--url", url, "--key", `${dir}/${who}.json`]);
        assert.equal(run.code, 0, `${args.join(" ")}: ${run.stderr}`);
        return run;
      };
      // Four reviewers announce cards (before the proposal, so they are its electorate).
      const names = ["r1", "r2", "r3", "r4"];
      for (const name of names) {
        await cli(eu1, name, "keygen");
        await Deno.writeTextFile(
          `${dir}/${name}.card.json`,
          JSON.stringify(card(name, { review: [] })),
        );
        await cli(name === "r4" ? us1 : eu1, name, "announce", `${dir}/${name}.card.json`);
      }
      await new Promise((r) => setTimeout(r, 50)); // the proposal's ts comes strictly after
      await cli(eu1, "chair", "keygen");
      const made = await cli(
        eu1,
        "chair",
        "propose",
        "Accept the report?",
        "--option",
        "accept",
        "--option",
        "reject",
        "--deadline",
        "20s", // room for five CLI runs on a loaded machine before it closes
        "--grace",
        "1000",
        "--skill",
        "review",
      );
      assert.equal(JSON.parse(made.stdout).status, "accepted");
      const id = /proposal ([A-Za-z0-9_-]{43})/.exec(made.stderr)![1];
      // The proposal reaches us-1; ballots go to either region.
      await poll("proposal on us-1", async () => {
        const response = await fetch(`${us1}/v1/proposals/${id}`);
        await response.body?.cancel();
        return response.ok;
      }, 10_000);
      await cli(eu1, "r1", "vote", id, "reject");
      await cli(eu1, "r1", "vote", id, "accept"); // changes its mind: the later seq counts
      await cli(us1, "r2", "vote", id, "accept");
      await cli(us1, "r4", "vote", id, "accept");
      const bad = await runDeno(CLI, [
        "vote",
        id,
        "maybe",
        "--url",
        eu1,
        "--key",
        `${dir}/r3.json`,
      ]);
      assert.equal(bad.code, 2, "an option the proposal lacks is a usage error");
      // r3 equivocates: two ballots with seq 1, one per region. It is excluded everywhere.
      const r3 = await AgentKey.load(`${dir}/r3.json`);
      const answer = await (await fetch(`${eu1}/v1/proposals/${id}`)).json();
      const ts = Date.now();
      for (const [url, option] of [[eu1, "accept"], [us1, "reject"]]) {
        const envelope = signedBallot(r3, answer, option, { seq: 1, ts });
        const pushed = await fetch(`${url}/v1/deltas`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ deltas: [envelope] }),
        });
        // The twin may already have arrived by fan-out: then this one is the evidence.
        const [result] = (await pushed.json()).results;
        assert.ok(result.status === "accepted" || result.reason === "seq_conflict", result.reason);
      }
      // Decided after deadline (20 s) + grace (1 s) + margin (5 s); both regions alike.
      const reports = await poll("decided in both regions", async () => {
        const both = await Promise.all(
          [eu1, us1].map(async (u) =>
            await (await fetch(`${u}/v1/proposals/${id}?votes_limit=10`)).json()
          ),
        );
        const same = JSON.stringify(both[0]) === JSON.stringify(both[1]);
        return both.every((r) => r.state === "decided" && r.tally.excluded === 1) && same
          ? both
          : false;
      }, 60_000);
      const decided = reports[0];
      assert.equal(decided.outcome, "accept"); // 3 of 4 ≥ ⌈2 × 4 / 3⌉ = 3; r3 excluded
      assert.deepEqual(decided.tally.eligible, { agents: 4, weight: 4 });
      const status = Object.fromEntries(
        decided.votes.map((v: { voter: string; status: string }) => [v.voter, v.status]),
      );
      assert.equal(status[r3.id], "quarantined");
      // Each region announces the outcome, signed with its own key.
      const announced = await poll("outcomes announced", async () => {
        const page =
          await (await fetch(`${us1}/v1/topics/mesh.proposals/messages?since=0&limit=50`)).json();
        const outcomes = page.messages.filter((m: { data: { event: string } }) =>
          m.data.event === "outcome"
        );
        return outcomes.length >= 2 ? outcomes : false;
      }, 20_000);
      const regionKeys = new Set(TWO.map((r) => AgentKey.fromSecret(mesh.region(r.id).secret).id));
      for (const m of announced) {
        assert.ok(regionKeys.has(m.author), "an outcome is announced by a region key");
        assert.equal(m.data.proposal, id);
        assert.equal(m.data.outcome, "accept");
      }
      const printed = await cli(us1, "chair", "proposal", id);
      assert.match(printed.stderr, /verified: .* decided: accept/);
      const listed = await cli(eu1, "chair", "proposals", "--state", "decided");
      assert.match(listed.stdout, new RegExp(`${id}  decided → accept`));
    } finally {
      await mesh.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
