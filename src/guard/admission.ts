/**
 * Per-channel admission (docs/protocol.md §19): which authors may write to which channels. The
 * policy comes from the mesh's admission file (`MESH_ADMISSION`), the same for every region;
 * each channel is `open`, an `allowlist` of author keys, or `certificate` (an operator-signed
 * certificate in `_certificates` must admit the author for the channel and the delta's `ts`).
 * Parsing and deciding are pure; the certificates a region holds are in `certificates.ts`.
 */
import { z } from "zod";
import { decodeBase64Url } from "../protocol/base64url.ts";
import { type Certificate, channelMatches, channelMatchSchema } from "../protocol/certificate.ts";
import { ID_PATTERN_SOURCE } from "../protocol/limits.ts";

/** Most operator keys an admission file may list (each certificate is checked against each). */
export const ADMISSION_OPERATORS_MAX = 8;
/** Most channel rules an admission file may list. */
export const ADMISSION_CHANNELS_MAX = 256;
/** Most author keys one allowlist rule may list. */
export const ADMISSION_AUTHORS_MAX = 10_000;

export type ChannelPolicy = "open" | "allowlist" | "certificate";

/** One channel rule, as parsed. */
/**
 * Who may read a channel or topic: anyone (`public`, the default), or only the agents its policy
 * admits as writers (`members`: the allowlist's authors, or holders of a certificate for it),
 * proven by a request they sign (RFC 9421, docs/protocol.md §21).
 */
export type ReadPolicy = "public" | "members";

export interface ChannelRule {
  readonly match: string;
  readonly policy: ChannelPolicy;
  readonly authors: ReadonlySet<string>;
  readonly read: ReadPolicy;
}

/** A parsed admission file. */
export interface AdmissionPolicy {
  /** Operator public keys (base64url), in file order. */
  readonly operators: readonly string[];
  /** The same keys decoded, for verifying certificates. */
  readonly operatorKeys: readonly Uint8Array[];
  /** The policy of a channel no rule matches (`allowlist` as default admits nobody). */
  readonly default: ChannelPolicy;
  /** Rules in file order: the first whose `match` matches a channel decides. */
  readonly channels: readonly ChannelRule[];
}

const key = z.string().regex(
  new RegExp(`^${ID_PATTERN_SOURCE}$`),
  "must be a 32-byte ed25519 public key as base64url",
);
const policy = z.enum(["open", "allowlist", "certificate"]);

const admissionSchema = z.strictObject({
  v: z.literal(1),
  operators: z.array(key).max(ADMISSION_OPERATORS_MAX).default([]),
  default: policy.default("open"),
  channels: z.array(z.strictObject({
    match: channelMatchSchema,
    policy,
    authors: z.array(key).max(ADMISSION_AUTHORS_MAX).optional(),
    read: z.enum(["public", "members"]).default("public"),
  })).max(ADMISSION_CHANNELS_MAX).default([]),
}).superRefine((file, ctx) => {
  const usesCertificates = file.default === "certificate" ||
    file.channels.some((c) => c.policy === "certificate");
  if (usesCertificates && file.operators.length === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["operators"],
      message: "must list at least one operator key when a policy is certificate",
    });
  }
  file.channels.forEach((c, i) => {
    if (c.policy === "allowlist" && c.authors === undefined) {
      ctx.addIssue({ code: "custom", path: ["channels", i, "authors"], message: "is required" });
    }
    if (c.read === "members" && c.policy === "open") {
      ctx.addIssue({
        code: "custom",
        path: ["channels", i, "read"],
        message: "members needs policy allowlist or certificate (an open channel has no members)",
      });
    }
    if (c.policy !== "allowlist" && c.authors !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["channels", i, "authors"],
        message: "is only allowed with policy allowlist",
      });
    }
  });
});

/**
 * Parses an admission file's text. Throws a TypeError naming `source` and the first invalid
 * field: `Cannot start region as MESH_ADMISSION x.json is invalid: channels.0.match: ...`.
 */
export function parseAdmission(text: string, source: string): AdmissionPolicy {
  const fail = (what: string): never => {
    throw new TypeError(`Cannot start region as MESH_ADMISSION ${source} is invalid: ${what}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail(`not JSON: ${(error as Error).message}`);
  }
  const parsed = admissionSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(`${issue.path.join(".") || "file"}: ${issue.message}`);
  }
  const file = parsed.data;
  return {
    operators: file.operators,
    operatorKeys: file.operators.map((k) => decodeBase64Url(k)!),
    default: file.default,
    channels: file.channels.map((c) => ({
      match: c.match,
      policy: c.policy,
      authors: new Set(c.authors ?? []),
      read: c.read,
    })),
  };
}

/** The rule deciding `channel` (a non-system channel): the first match, else the default. */
export function ruleFor(admission: AdmissionPolicy, channel: string): ChannelRule {
  return admission.channels.find((r) => channelMatches(r.match, channel)) ??
    { match: "*", policy: admission.default, authors: new Set(), read: "public" };
}

/**
 * Whether `certificate` admits a delta by its author in `channel` with signed time `ts`: it
 * names the author, one of its patterns matches, and `ts < expires` (the delta's own time, not
 * the region's clock, so every region decides alike whenever the delta arrives).
 */
export function certificateAdmits(
  certificate: Certificate,
  delta: { readonly author: string; readonly channel: string; readonly ts: number },
): boolean {
  return certificate.author === delta.author && delta.ts < certificate.expires &&
    certificate.channels.some((p) => channelMatches(p, delta.channel));
}
