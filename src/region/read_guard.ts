/**
 * The read side of the admission policy at the HTTP edge (docs/protocol.md §19.3): a channel or
 * topic whose rule says `read: members` answers only a request signed (RFC 9421, §21) by one of
 * its members — 401 unsigned or badly signed, 403 signed by someone else. Public names need no
 * signature and ignore one.
 */
import type { Context } from "hono";
import { INVALID_SPAN_CONTEXT, trace } from "@opentelemetry/api";
import { membersOnly, readerOf, readName } from "../guard/read_access.ts";
import type { RegionDeps } from "./deps.ts";
import { isSigned, signedByAgent } from "./agent_request.ts";
import { chargeAddress } from "./push_route.ts";
import { Problem } from "./problem.ts";
import { ACCEPT_AGENT_SIGNATURE } from "../guard/http_signature.ts";

/** What a 401 for an unsigned request tells the client to sign (as the other signed routes do). */
export const SIGN_HINT: Record<string, string> = {
  "www-authenticate": 'Signature realm="mesh", error="missing"',
  "accept-signature": ACCEPT_AGENT_SIGNATURE,
};

/** The verified signer of the request, or null when it is unsigned. Refuses a bad signature. */
export async function requestSigner(c: Context, deps: RegionDeps): Promise<string | null> {
  if (!isSigned(c)) return null;
  const span = trace.getActiveSpan() ?? trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
  // A signature check and a nonce write cost the region: they draw from the address budget first.
  await chargeAddress(deps, c, span);
  const { verified } = await signedByAgent(c, undefined, span, {
    ...deps,
    nowMs: deps.now(),
    bodyBytesMax: 0,
  });
  return verified.agent;
}

/** What the request may read (a test of `readName`s), checking its signature when it has one. */
export async function readerOfRequest(
  c: Context,
  deps: RegionDeps,
): Promise<(name: string | null) => boolean> {
  // Without a members-only rule everything is public, and a signature is neither needed nor read.
  if (!deps.admission?.channels.some((rule) => rule.read === "members")) return () => true;
  const signer = await requestSigner(c, deps);
  return await readerOf(deps.admission, deps.store, deps.verify, signer, deps.now());
}

/** Refuses the request unless it may read `channel` (a channel or `_topic:` channel name). */
export async function requireReader(c: Context, deps: RegionDeps, channel: string): Promise<void> {
  if (!membersOnly(deps.admission, readName(channel))) return;
  refuseUnreadable(c, await readerOfRequest(c, deps), channel);
}

/** Throws 401 (unsigned) or 403 (signed by a non-member) when `may` refuses `channel`. */
export function refuseUnreadable(
  c: Context,
  may: (name: string | null) => boolean,
  channel: string,
): void {
  const name = readName(channel);
  if (may(name)) return;
  if (!isSigned(c)) {
    throw new Problem(
      "unauthorized",
      `${name} is readable by its members only: sign the request (docs/protocol.md §21)`,
      SIGN_HINT,
    );
  }
  throw new Problem("forbidden", `The signer is not a member of ${name}`);
}
