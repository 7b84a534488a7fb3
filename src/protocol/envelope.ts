/**
 * The whole acceptance check of one received envelope, signature aside: `parseDeltaEnvelope`
 * and the rules of the system channels — for `_certificates` the shape of every certificate, for
 * `_equivocations` the shape of every proof (their inner signatures are the caller's too: see
 * `proofSignatures`), for `_registry` one card op keyed by its author, and every other `_`
 * channel reserved. Pure; never throws.
 */
import { REGISTRY_CHANNEL, registryOpsProblem } from "./agent_card.ts";
import { certificateOpsProblem, CERTIFICATES_CHANNEL } from "./certificate.ts";
import { ID_PATTERN, type Parsed, parseDeltaEnvelope, reject } from "./delta.ts";
import { EQUIVOCATIONS_CHANNEL, proofOpsProblem } from "./equivocation.ts";

export function parseEnvelope(envelope: unknown, nowMs: number): Parsed {
  const parsed = parseDeltaEnvelope(envelope, nowMs);
  if (!parsed.ok) return parsed;
  const { id, channel, ops, author } = parsed.delta;
  if (channel === EQUIVOCATIONS_CHANNEL) {
    const problem = proofOpsProblem(ops, ID_PATTERN);
    if (problem !== null) return reject(id, "bad_proof", problem);
  } else if (channel === CERTIFICATES_CHANNEL) {
    const problem = certificateOpsProblem(ops);
    if (problem !== null) return reject(id, "bad_certificate", problem);
  } else if (channel === REGISTRY_CHANNEL) {
    const problem = registryOpsProblem(author, ops);
    if (problem !== null) return reject(id, "bad_card", problem);
  } else if (channel.startsWith("_")) {
    return reject(id, "reserved_channel", "channels starting with _ are reserved for the system");
  }
  return parsed;
}
