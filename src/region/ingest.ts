/**
 * The ingest pipeline of one push: parse → verify → admission policy → admit (rate limits) →
 * dedupe/persist → per-delta results in input order. Pure checks live in `parseEnvelope`; this
 * adds the signature check (async), admission and the store.
 */
import { decodeBase64Url } from "../protocol/base64url.ts";
import { type Delta, ID_PATTERN, reject, signedMessage } from "../protocol/delta.ts";
import { parseEnvelope } from "../protocol/envelope.ts";
import { CERTIFICATES_CHANNEL, certificatesIn } from "../protocol/certificate.ts";
import { EQUIVOCATIONS_CHANNEL, proofSignatures } from "../protocol/equivocation.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import { kindOf, TOPIC_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";
import type { DeltaOrigin, RegionStore } from "../store/region_store.ts";
import { type AdmissionPolicy, certificateAdmits, ruleFor } from "../guard/admission.ts";
import { certificatesOf, operatorSigned } from "../guard/certificates.ts";
import { quarantineOf } from "../guard/quarantine.ts";
import type { DeltaResult, VerifyFn } from "../protocol/result.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import { channelDirectoryOf } from "../views/channel_directory.ts";
import { arrivalMarksOf } from "./retained_scan.ts";
import { channelWatchOf } from "../views/channel_watch.ts";
import { recordOwnDeltas } from "../views/ack_index.ts";
import { rateLimited, rejected, resultOf, stored } from "./_ingest_results.ts";
export type { DeltaResult, VerifyFn };

export interface IngestOutcome {
  readonly results: DeltaResult[];
  /** The deltas this push newly stored, in input order. */
  readonly accepted: Delta[];
  /**
   * Per envelope, the author key whose signature over its body verified (so that author sent
   * it, or someone replayed what it sent), or null. Also set for a `bad_schema` body that names
   * its signer, when `attributeInvalid` asked for it.
   */
  readonly signers: (string | null)[];
  /**
   * Deltas this push stored as evidence of an equivocation (reported `seq_conflict`): a second
   * body for an author's taken seq, kept beside the first so every region ends with both.
   */
  readonly evidence: Delta[];
}

/** Whether a verified delta may be stored now (rate limits); `retryAfterMs` when not. */
export interface Admission {
  readonly allowed: boolean;
  readonly retryAfterMs: number;
}

export interface IngestOptions {
  /** Recorded in the region log with each accepted delta. Default `"agent"`. */
  readonly origin?: DeltaOrigin;
  /**
   * Which ids are already stored (an index that may lag, never lead): those are reported
   * `duplicate` without verifying their signatures again.
   */
  readonly known?: (id: string) => boolean;
  /**
   * Admits the verified deltas not known to be stored, one answer per delta in order; a refused
   * one is rejected `rate_limited` and not stored. Default: all admitted.
   */
  readonly admit?: (deltas: readonly Delta[]) => Promise<readonly Admission[]>;
  /**
   * Called with the deltas `admit` let through that the admission policy then refused, or the
   * store reported `duplicate`, so that what they drew can be given back. Must not throw.
   */
  readonly release?: (deltas: readonly Delta[]) => Promise<void>;
  /**
   * Also verify the signature of a body rejected `bad_schema` against the author it names, and
   * report that author in `signers` when it verifies: its key signed an invalid delta.
   */
  readonly attributeInvalid?: boolean;
  /**
   * The mesh's per-channel admission policy (§19): a verified delta it refuses is rejected
   * `not_admitted`. Default: every channel open, and no certificate is valid (no operators).
   */
  readonly admission?: AdmissionPolicy;
  /**
   * Spans for the checks (`mesh.ingest.verify`) and the store write (`mesh.ingest.commit`), as
   * children of the caller's span. Default: none.
   */
  readonly telemetry?: Telemetry;
  /**
   * Told of the verified, admitted deltas once their store write has started (the mesh forwards
   * them to peers while they commit here); some may turn out to be duplicates. Must not throw.
   */
  readonly onAdmitted?: (deltas: readonly Delta[]) => void;
  /**
   * What the push route takes: a detail for a parsed delta it does not (rejected `wrong_route`,
   * e.g. a topic message sent to `/v1/deltas`), or null. Default: everything.
   */
  readonly route?: (delta: Delta) => string | null;
  /**
   * Awaited once the deltas are checked and admitted, before anything is written or forwarded; a
   * throw ends the ingest with nothing stored (a relayed message's epoch fence, whose store read
   * runs beside the checks). What `admit` drew is not given back. Default: none.
   */
  readonly beforeCommit?: () => Promise<void>;
}

/**
 * Checks every envelope, stores the valid and admitted ones in one `putDeltas` call and reports
 * each. Relayed deltas are re-verified like any other (authors' signatures are end-to-end) and
 * fanned out according to their `origin`. Throws `StoreUnavailableError` when the store fails
 * (the caller answers 503).
 */
export async function ingest(
  envelopes: readonly unknown[],
  store: RegionStore,
  verify: VerifyFn,
  nowMs: number,
  options: IngestOptions = {},
): Promise<IngestOutcome> {
  const { origin = "agent", admit, release, admission, telemetry } = options;
  const attrs = { [names.ATTR_PUSH_DELTAS]: envelopes.length };
  const stage = <T>(name: string, work: () => Promise<T>) =>
    telemetry === undefined ? work() : telemetry.inSpan(name, attrs, work);
  const { parsed, results, signers } = await stage(
    names.SPAN_INGEST_VERIFY,
    () => check(envelopes, store, verify, nowMs, options),
  );
  const candidates = await admitted(parsed, results, store, verify, nowMs, options);
  await options.beforeCommit?.();
  const toStore = candidates.map((i) => (parsed[i] as { delta: Delta }).delta);
  // The channels go into the directory first, so no stored delta's channel is ever unlisted.
  const commit = async () => {
    await channelDirectoryOf(store).record(toStore.map((d) => d.channel));
    return await store.putDeltas(toStore.map(stored), origin);
  };
  const committing = toStore.length > 0 ? stage(names.SPAN_INGEST_COMMIT, commit) : null;
  // Told once the store write is under way, so an eager forward's signing and sends overlap it;
  // best effort (the log stays the record): a throw must not replace the store's answer.
  try {
    if (toStore.length > 0) options.onAdmitted?.(toStore);
  } catch { /* the drain sends what a forward did not */ }
  const outcomes = committing === null ? [] : await committing;
  const accepted: Delta[] = [];
  const duplicates: Delta[] = [];
  const evidence: Delta[] = [];
  const marks = arrivalMarksOf(store);
  outcomes.forEach((outcome, k) => {
    const delta = toStore[k];
    results[candidates[k]] = resultOf(delta.id, outcome);
    if (delta.kind === "topic" && "arrival" in outcome) {
      marks.note(delta.channel, outcome.arrival, nowMs);
    }
    if (outcome.status === "accepted") accepted.push(delta);
    if (outcome.status === "duplicate") duplicates.push(delta);
    if (outcome.status === "equivocation") evidence.push(delta);
  });
  if (admit !== undefined && release !== undefined && duplicates.length > 0) {
    await release(duplicates);
  }
  for (const delta of evidence) quarantineOf(store).note(delta.author);
  const kept = [...accepted, ...evidence];
  noteStored(kept, store, verify, admission);
  await recordOwnDeltas(store, kept).catch(() => {}); // a mailbox read sweeps what this missed
  const watch = channelWatchOf(store); // long-polls read again; woken ones fold `arrived`
  const arrived = watch.size === 0
    ? []
    : outcomes.flatMap((o, k) =>
      o.status === "accepted" ? [{ ...stored(toStore[k]), arrival: o.arrival }] : []
    );
  watch.stored(kept, evidence.length > 0, arrived);
  return { results: results as DeltaResult[], accepted, signers, evidence };
}

type ParsedEnvelope = ReturnType<typeof parseEnvelope>;
type Verdict = boolean | "bad_proof" | "bad_certificate";

/**
 * Parses and verifies every envelope: the results of those refused so far (`undefined` where a
 * delta may still be stored) and who signed each.
 */
async function check(
  envelopes: readonly unknown[],
  store: RegionStore,
  verify: VerifyFn,
  nowMs: number,
  options: IngestOptions,
) {
  const { origin = "agent", known, attributeInvalid = false, admission } = options;
  const parsed = envelopes.map((e) => {
    const p = parseEnvelope(e, nowMs);
    const wrong = p.ok ? options.route?.(p.delta) ?? null : null;
    return wrong === null ? p : reject(p.ok ? p.delta.id : null, "wrong_route", wrong);
  });
  // A body this region already stores is a duplicate whatever its signature says: the stored
  // one was verified. Skipping verification matters when peers relay what we already have.
  const held = parsed.map((p) => p.ok && known !== undefined && known(p.delta.id));
  const refused = await agentRefusals(parsed, held, store, nowMs, origin);
  const claims = parsed.map((p, i) =>
    attributeInvalid && !p.ok && p.reason === "bad_schema" ? claimedSigner(envelopes[i]) : null
  );
  const verified: Verdict[] = await Promise.all(parsed.map((p, i) => {
    if (p.ok) return held[i] || refused[i] !== null ? false : verifyDelta(p, verify, admission);
    const claim = claims[i];
    return claim === null ? false : verify(claim.publicKey, claim.signature, claim.message);
  }));
  const signers = parsed.map((p, i) => {
    if (p.ok) return held[i] || verified[i] === true ? p.delta.author : null;
    return verified[i] === true ? claims[i]!.author : null;
  });
  const results = parsed.map((p, i) => firstResult(p, held[i], refused[i], verified[i]));
  return { parsed, results, signers };
}

/**
 * Per envelope, null, or what an agent's push gets before its signature is checked:
 * `quarantined` (an author proven to equivocate may push nothing more but proofs) or `expired`
 * (a topic or direct message past its time) — or `duplicate` for either when the region already
 * holds that very delta (a retry). What peers relay is stored whoever signed it, expired or not:
 * a peer may have stored it before, and sets must end equal.
 */
async function agentRefusals(
  parsed: readonly ParsedEnvelope[],
  held: readonly boolean[],
  store: RegionStore,
  nowMs: number,
  origin: DeltaOrigin,
): Promise<AgentRefusal[]> {
  if (origin !== "agent") return parsed.map(() => null);
  const authors = await quarantineOf(store).authors(nowMs);
  return await Promise.all(parsed.map(async (p, i) => {
    if (!p.ok || held[i] || p.delta.channel === EQUIVOCATIONS_CHANNEL) return null;
    // An agent may not push a topic or direct message past its `ts + ttl`; what peers relay is
    // stored whenever it comes, expired or not, so that every region's set ends equal.
    const expired = p.delta.expires !== undefined && p.delta.expires <= nowMs;
    if (!expired && !authors.has(p.delta.author)) return null;
    const stored = await store.getDelta(p.delta.channel, p.delta.id) !== null;
    return stored ? "duplicate" : expired ? "expired" : "quarantined";
  }));
}

/** What an agent's push of one delta gets before its signature is checked, or null. */
type AgentRefusal = "quarantined" | "expired" | "duplicate" | null;

/** The result of one envelope after the checks, or undefined while it may still be stored. */
function firstResult(
  p: ParsedEnvelope,
  held: boolean,
  refused: AgentRefusal,
  verified: Verdict,
): DeltaResult | undefined {
  if (!p.ok) return { id: p.id, status: "rejected", reason: p.reason, detail: p.detail };
  const id = p.delta.id;
  if (held || refused === "duplicate") return { id, status: "duplicate" };
  if (refused === "quarantined") {
    return rejected(id, "quarantined", "this region holds proof that this author equivocated");
  }
  if (refused === "expired") {
    return rejected(
      id,
      "expired",
      "already past its expiry (ts + ttl, or a ballot's deadline + grace)",
    );
  }
  if (verified === "bad_proof") {
    return rejected(id, "bad_proof", "a signature inside an equivocation proof does not verify");
  }
  if (verified === "bad_certificate") {
    const detail = "a certificate is not signed by an operator of this mesh's admission file";
    return rejected(id, "bad_certificate", detail);
  }
  if (!verified) {
    return rejected(id, "bad_signature", "signature does not verify for this author and body");
  }
  return undefined;
}

/**
 * The indices of the verified deltas the rate limits and the admission policy let in; the
 * results of the others are filled in (`rate_limited`, `not_admitted`). Rate limits come first:
 * a certificate in the batch admits the deltas beside it only if it is stored itself, or one
 * region would admit on a certificate no region holds (issue 8 review). What a delta the policy
 * then refuses drew from the budgets is given back.
 */
async function admitted(
  parsed: readonly ParsedEnvelope[],
  results: (DeltaResult | undefined)[],
  store: RegionStore,
  verify: VerifyFn,
  nowMs: number,
  { admission, admit, release }: IngestOptions,
): Promise<number[]> {
  let candidates = parsed.flatMap((p, i) => p.ok && results[i] === undefined ? [i] : []);
  const deltaAt = (i: number) => (parsed[i] as { delta: Delta }).delta;
  if (admit !== undefined && candidates.length > 0) {
    const admissions = await admit(candidates.map(deltaAt));
    candidates = candidates.filter((i, k) => {
      if (admissions[k].allowed) return true;
      results[i] = rateLimited(deltaAt(i).id, admissions[k].retryAfterMs);
      return false;
    });
  }
  if (admission === undefined || candidates.length === 0) return candidates;
  const verdicts = await judge(candidates.map(deltaAt), admission, store, verify, nowMs);
  const refused = candidates.filter((_, k) => !verdicts[k]);
  for (const i of refused) {
    const detail = `the admission policy of channel ${
      deltaAt(i).channel
    } does not admit this author`;
    results[i] = rejected(deltaAt(i).id, "not_admitted", detail);
  }
  if (admit !== undefined && release !== undefined && refused.length > 0) {
    await release(refused.map(deltaAt));
  }
  return candidates.filter((_, k) => verdicts[k]);
}

/**
 * Tells this instance's quarantine and certificates at once what was just stored (other
 * instances catch up from the store): the author of every equivocation, the authors proven in
 * `_equivocations`, and the certificates in `_certificates` — every stored delta there counts,
 * both halves of an equivocation included, so every region that holds the same set admits alike.
 */
function noteStored(
  stored: readonly Delta[],
  store: RegionStore,
  verify: VerifyFn,
  admission: AdmissionPolicy | undefined,
): void {
  const quarantine = quarantineOf(store);
  for (const delta of stored) {
    if (admission !== undefined && delta.channel === CERTIFICATES_CHANNEL) {
      const certificates = certificatesOf(store, admission, verify);
      for (const shape of certificatesIn(delta.ops)) certificates.note(shape.certificate);
    }
    if (delta.channel !== EQUIVOCATIONS_CHANNEL) continue;
    for (const op of delta.ops) if (op.op === "set") quarantine.note(op.key);
  }
}

/**
 * Whether the admission policy admits each verified delta, in order (§19). System channels are
 * the system's (their checks come before); `open` admits all, `allowlist` its authors, and
 * `certificate` an author that an operator-signed certificate admits at the delta's `ts`: one
 * this region holds, or one in a `_certificates` delta of the same batch (fan-out relays a
 * certificate and the deltas it admits together, so every region decides them alike). Reads the
 * store only when some delta needs a certificate.
 */
async function judge(
  deltas: readonly Delta[],
  admission: AdmissionPolicy,
  store: RegionStore,
  verify: VerifyFn,
  nowMs: number,
): Promise<boolean[]> {
  const rules = deltas.map((d) => {
    const name = admissionName(d);
    return name === null ? null : ruleFor(admission, name);
  });
  if (!rules.some((r) => r?.policy === "certificate")) {
    return deltas.map((d, k) =>
      rules[k] === null || rules[k].policy === "open" ||
      rules[k].authors.has(d.author)
    );
  }
  const batch = deltas.flatMap((d) =>
    d.channel === CERTIFICATES_CHANNEL ? certificatesIn(d.ops).map((s) => s.certificate) : []
  );
  const held = certificatesOf(store, admission, verify);
  await held.refresh(nowMs);
  return deltas.map((d, k) => {
    const rule = rules[k];
    if (rule === null || rule.policy === "open") return true;
    if (rule.policy === "allowlist") return rule.authors.has(d.author);
    const named = { ...d, channel: admissionName(d)! };
    return held.admits(named) || batch.some((c) => certificateAdmits(c, named));
  });
}

/**
 * The name the admission policy judges a delta by, or null for the system's own channels: a
 * channel's name, and for a topic message its topic (so a rule or certificate for `jobs.*`
 * covers the channels and the topics of those names). Direct messages are open to all senders.
 */
function admissionName(delta: Delta): string | null {
  if (delta.kind === "topic") return delta.channel.slice(TOPIC_CHANNEL_PREFIX.length);
  return delta.channel.startsWith("_") ? null : delta.channel;
}

/**
 * Checks a parsed delta's signature and, in `_equivocations`, the signatures inside its proofs,
 * and in `_certificates` that an operator of `admission` signed each certificate: true, false
 * (its own signature fails), `"bad_proof"` or `"bad_certificate"`.
 */
async function verifyDelta(
  p: Extract<ReturnType<typeof parseEnvelope>, { ok: true }>,
  verify: VerifyFn,
  admission: AdmissionPolicy | undefined,
): Promise<boolean | "bad_proof" | "bad_certificate"> {
  if (!await verify(p.publicKey, p.signature, p.message)) return false;
  if (p.delta.channel === CERTIFICATES_CHANNEL) {
    const signed = await Promise.all(
      certificatesIn(p.delta.ops).map((s) => operatorSigned(s, admission, verify)),
    );
    return signed.every(Boolean) ? true : "bad_certificate";
  }
  if (p.delta.channel !== EQUIVOCATIONS_CHANNEL) return true;
  const inner = await Promise.all(
    proofSignatures(p.delta).map((s) => verify(s.publicKey, s.signature, s.message)),
  );
  return inner.every(Boolean) ? true : "bad_proof";
}

/**
 * The author a schema-invalid envelope names, with what to verify to know it signed it: only
 * when the body is a JSON object whose `author` is a key and `sig` is 64 bytes. Never throws.
 */
function claimedSigner(envelope: unknown) {
  const { body, sig } = envelope as { body: string; sig: string };
  let author: unknown;
  let json: unknown;
  try {
    json = JSON.parse(body);
    author = (json as { author?: unknown })?.author;
  } catch {
    return null;
  }
  if (typeof author !== "string" || !ID_PATTERN.test(author)) return null;
  const publicKey = decodeBase64Url(author);
  const signature = decodeBase64Url(sig);
  if (publicKey === null || signature === null || signature.length !== 64) return null;
  const message = signedMessage(utf8Encode(body), kindOf(json));
  return { author, publicKey, signature, message };
}
