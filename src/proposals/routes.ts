/**
 * The proposals' read routes (docs/protocol.md §24): `GET /v1/proposals` lists the proposals a
 * region holds, by state; `GET /v1/proposals/{id}` answers one with its tally, its outcome once
 * decided, and a page of its ballots. Proposals and ballots are written as ordinary deltas
 * (`POST /v1/deltas`); these routes only read. A proposal weighted by activity in a members-only
 * channel is served only to that channel's members, proven by a signed request, and listed only
 * to them (`tally_access.ts`). A Hono app mounted by the composition root.
 */
import { type Context, Hono } from "hono";
import { ID_PATTERN } from "../protocol/delta.ts";
import { type Proposal, PROPOSALS_CHANNEL, votesChannel } from "../protocol/proposal.ts";
import { allowOnly } from "../region/app.ts";
import type { RegionDeps } from "../region/deps.ts";
import { Problem } from "../region/problem.ts";
import { readerOfRequest, requireReader } from "../region/read_guard.ts";
import { names } from "../telemetry/mod.ts";
import type { ProposalBook, ProposalReport } from "./book.ts";
import type { ProposalState } from "./tally.ts";
import { mayReadTally, tallyPrivateTo } from "./tally_access.ts";

/** Ballots one answer lists by default, and at most. */
export const VOTES_LIMIT_DEFAULT = 100;
export const VOTES_LIMIT_MAX = 1_000;
/** Proposals one list answer holds by default, and at most. */
export const PROPOSALS_LIMIT_DEFAULT = 20;
export const PROPOSALS_LIMIT_MAX = 100;

const STATES: readonly (ProposalState | "all")[] = ["open", "closing", "decided", "void", "all"];

export function proposalRoutes(book: ProposalBook): (deps: RegionDeps) => Hono {
  return (deps) => {
    const app = new Hono();
    const attrs = deps.base;
    app.get("/v1/proposals", (c) => {
      const query = listQuery(c);
      return deps.telemetry.inSpan(names.SPAN_PROPOSAL_LIST, attrs, async () => {
        const all = await book.list();
        // Proposals whose tally the reader may not read are left out, as private channels are.
        const may = all.some(({ proposal }) => tallyPrivateTo(proposal, deps.admission) !== null)
          ? await readerOfRequest(c, deps)
          : () => true;
        const wanted = all.filter((p) =>
          (query.state === "all" || p.state === query.state) &&
          mayReadTally(p.proposal, deps.admission, may)
        );
        // The cursor is a position in the order (deadline descending, then id), not an entry:
        // the page goes on after it even when its proposal has since left the state asked for.
        const after = query.after;
        const start = after === undefined
          ? 0
          : wanted.findIndex(({ proposal: p }) =>
            p.deadline < after.deadline || (p.deadline === after.deadline && p.id > after.id)
          );
        if (start < 0) return c.json({ proposals: [], cursor: null });
        const page = wanted.slice(start, start + query.limit);
        const proposals = await Promise.all(page.map(async ({ proposal, state }) => {
          const outcome = state === "decided"
            ? (await book.report(proposal.id))?.tally.outcome ?? null
            : null;
          return { ...summary(proposal), state, outcome };
        }));
        const more = start + page.length < wanted.length;
        return c.json({
          proposals,
          cursor: more ? cursorOf(page[page.length - 1].proposal) : null,
        });
      });
    });

    app.get("/v1/proposals/:id", (c) => {
      const id = c.req.param("id");
      if (!ID_PATTERN.test(id)) {
        throw new Problem("invalid-request", "proposal id must be a 43-character base64url id");
      }
      const page = votesQuery(c);
      return deps.telemetry.inSpan(names.SPAN_PROPOSAL_READ, attrs, async (span) => {
        const proposal = await book.proposal(id);
        if (proposal === null) throw new Problem("not-found", `No proposal ${id} in this region`);
        const privateTo = tallyPrivateTo(proposal, deps.admission);
        if (privateTo !== null) await requireReader(c, deps, privateTo); // 401 / 403
        const started = performance.now();
        const report = await book.report(id, page);
        if (report === null) throw new Problem("not-found", `No proposal ${id} in this region`);
        const delta = await deps.store.getDelta(PROPOSALS_CHANNEL, id);
        span.setAttributes({
          [names.ATTR_PROPOSAL_STATE]: report.tally.state,
          [names.ATTR_PROPOSAL_VOTERS]: report.tally.voters,
        });
        deps.telemetry.proposalTallyDuration.record((performance.now() - started) / 1000, {
          ...attrs,
          [names.ATTR_PROPOSAL_STATE]: report.tally.state,
        });
        const envelope = delta === null ? null : { body: delta.body, sig: delta.sig };
        return c.json(answer(report, envelope));
      });
    });
    allowOnly(app, "/v1/proposals", "GET");
    allowOnly(app, "/v1/proposals/:id", "GET");
    return app;
  };
}

/** What a list entry says of a proposal. */
function summary(p: Proposal) {
  return {
    id: p.id,
    author: p.author,
    title: p.title,
    options: p.options,
    deadline: p.deadline,
    closes: p.deadline + p.grace,
  };
}

/** The answer of `GET /v1/proposals/{id}`. */
function answer(report: ProposalReport, envelope: { body: string; sig: string } | null) {
  const { proposal: p, tally: t } = report;
  return {
    ...summary(p),
    seq: p.seq,
    ts: p.ts,
    body: p.body,
    grace: p.grace,
    eligible: p.eligible,
    weights: p.weights,
    threshold: p.threshold,
    votesChannel: votesChannel(p.id),
    state: t.state,
    outcome: t.outcome,
    leading: t.leading,
    tally: {
      options: t.options,
      eligible: t.eligible,
      needed: t.needed,
      cast: t.cast,
      spoiled: t.spoiled,
      excluded: t.excluded,
      voters: t.voters,
      late: report.late,
    },
    votes: report.votes.map((v) => ({
      voter: v.voter,
      option: v.option,
      weight: v.weight,
      status: v.status,
      seq: v.seq,
      ts: v.ts,
      id: v.id,
    })),
    votesNext: report.votesNext,
    envelope,
  };
}

/** `<deadline>.<id>`: where a list page ended. */
function cursorOf(p: Proposal): string {
  return `${p.deadline}.${p.id}`;
}

/** The single value of query parameter `name`, refusing repeats and unknown parameters. */
function params(c: Context, allowed: readonly string[]): (name: string) => string | undefined {
  for (const name of new URL(c.req.url).searchParams.keys()) {
    if (!allowed.includes(name)) {
      throw new Problem("invalid-request", `Unknown query parameter ${name}; allowed: ${allowed}`);
    }
  }
  return (name) => {
    const values = c.req.queries(name) ?? [];
    if (values.length > 1) {
      throw new Problem("invalid-request", `Query parameter ${name} may be given once`);
    }
    return values[0];
  };
}

function intParam(name: string, raw: string | undefined, min: number, max: number, dflt: number) {
  if (raw === undefined) return dflt;
  const value = /^[0-9]{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    throw new Problem(
      "invalid-request",
      `Query parameter ${name} must be an integer in ${min}..${max}`,
    );
  }
  return value;
}

function listQuery(c: Context) {
  const once = params(c, ["state", "limit", "cursor"]);
  const state = (once("state") ?? "all") as ProposalState | "all";
  if (!STATES.includes(state)) {
    throw new Problem(
      "invalid-request",
      `Query parameter state must be one of ${STATES.join(", ")}`,
    );
  }
  const limit = intParam("limit", once("limit"), 1, PROPOSALS_LIMIT_MAX, PROPOSALS_LIMIT_DEFAULT);
  const cursor = once("cursor");
  if (cursor === undefined || cursor === "") return { state, limit, after: undefined };
  const match = /^([0-9]{1,16})\.(.+)$/.exec(cursor);
  if (match === null || !ID_PATTERN.test(match[2])) {
    throw new Problem("invalid-request", "Query parameter cursor is not one this list gave");
  }
  return { state, limit, after: { deadline: Number(match[1]), id: match[2] } };
}

function votesQuery(c: Context) {
  const once = params(c, ["votes_limit", "votes_after"]);
  const limit = intParam(
    "votes_limit",
    once("votes_limit"),
    0,
    VOTES_LIMIT_MAX,
    VOTES_LIMIT_DEFAULT,
  );
  const after = once("votes_after");
  if (after !== undefined && !ID_PATTERN.test(after)) {
    throw new Problem("invalid-request", "Query parameter votes_after must be a voter id");
  }
  return { limit, after };
}
