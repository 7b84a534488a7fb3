/**
 * A module worker around Electorates.of (for electorate_workerd_test.ts), which every tally asks
 * (`GET /v1/proposals/{id}`, ProposalBook.report). Its proposal is open to the agents with skill
 * `x`, weighted by activity in channel `work`. The fake store takes 300 ms to read `_registry`'s
 * arrivals (a timer standing in for the store's fetch, which belongs to the request that made it)
 * and fails the first read of `work`'s (a transient store error). `/of` answers the electorate's
 * size, or 503 when the store failed.
 */
import { Electorates } from "../../src/proposals/electorate.ts";
import type { Proposal } from "../../src/protocol/proposal.ts";
import type { RegionStore } from "../../src/store/region_store.ts";

let failures = 1;
const empty = (after: number) => ({ deltas: [], cursor: after, more: false });
const store = {
  kind: "memory",
  listArrivals: (channel: string, after: number) => {
    if (channel === "_registry") {
      return new Promise((resolve) => setTimeout(() => resolve(empty(after)), 300));
    }
    return failures-- > 0
      ? Promise.reject(new Error("the store failed"))
      : Promise.resolve(empty(after));
  },
} as unknown as RegionStore;
const electorates = new Electorates(store);
const proposal: Proposal = {
  id: "p1",
  author: "a",
  seq: 1,
  ts: 1_000,
  title: "t",
  body: "",
  options: ["yes", "no"],
  deadline: 2_000,
  grace: 60_000,
  eligible: { skill: "x" },
  weights: { activity: "work" },
  threshold: [1, 1],
};

export default {
  async fetch(): Promise<Response> {
    const started = Date.now();
    try {
      const electorate = await electorates.of(proposal);
      return Response.json({ total: electorate.total, tookMs: Date.now() - started });
    } catch (error) {
      return new Response((error as Error).message, { status: 503 });
    }
  },
};
