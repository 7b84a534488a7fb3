/**
 * Agent cards: an agent announces itself with a signed card in the system channel `_registry`
 * (docs/protocol.md §20). A `_registry` delta carries exactly one op, keyed by its own author:
 * `set {key: <author>, value: <card>}` announces (or re-announces: the last writer by the
 * author's own clock wins, like any LWW key), `del {key: <author>}` withdraws. Nobody can write
 * another agent's card. The card is the A2A v1.0 `AgentCard` shape, a strict subset of it, plus
 * a `mesh` member. Pure; never throws.
 */
import { z } from "zod";
import type { Op, OpValue } from "./delta.ts";
import { ID_PATTERN_SOURCE, REGION_ID_PATTERN } from "./limits.ts";

/** The system channel that holds agent cards. */
export const REGISTRY_CHANNEL = "_registry";

/** Longest `name` of a card or a skill, in UTF-16 code units. */
export const CARD_NAME_CHARS_MAX = 128;
/** Longest `description` of a card or a skill, in UTF-16 code units. */
export const CARD_DESCRIPTION_CHARS_MAX = 2_048;
/** Longest `version`, `protocolVersion` or `protocolBinding`, in UTF-16 code units. */
export const CARD_LABEL_CHARS_MAX = 64;
/** Longest URL (`url`, `documentationUrl`, `iconUrl`, extension `uri`), in UTF-16 code units. */
export const CARD_URL_CHARS_MAX = 512;
/**
 * Most skills one card may list. With `CARD_TAGS_MAX` and the words discovery indexes, this
 * bounds the index entries of one card so that replacing a card is one atomic store write.
 */
export const CARD_SKILLS_MAX = 16;
/** Longest skill `id`, in UTF-16 code units. */
export const CARD_SKILL_ID_CHARS_MAX = 64;
/** Most tags one skill may list. */
export const CARD_SKILL_TAGS_MAX = 16;
/** Most distinct tags (compared lowercased) over all skills of a card. */
export const CARD_TAGS_MAX = 24;
/** Longest tag, in UTF-16 code units. */
export const CARD_TAG_CHARS_MAX = 64;
/** Most examples one skill may list. */
export const CARD_EXAMPLES_MAX = 8;
/** Longest example, in UTF-16 code units. */
export const CARD_EXAMPLE_CHARS_MAX = 512;
/** Most media types in one list of input or output modes. */
export const CARD_MODES_MAX = 16;
/** Longest media type, in UTF-16 code units. */
export const CARD_MODE_CHARS_MAX = 128;
/** Most entries of `supportedInterfaces`. */
export const CARD_INTERFACES_MAX = 8;
/** Most entries of `capabilities.extensions`. */
export const CARD_EXTENSIONS_MAX = 8;
/** Longest free text elsewhere (provider organization, tenant, specialisation). */
export const CARD_TEXT_CHARS_MAX = 256;
/** Most entries of `mesh.homeRegions`. */
export const CARD_HOME_REGIONS_MAX = 8;

const ID = new RegExp(`^${ID_PATTERN_SOURCE}$`);

const text = (max: number) =>
  z.string().min(1).max(max).refine((s) => !s.includes("\u0000"), "must not contain NUL");
const url = z.string().max(CARD_URL_CHARS_MAX).refine((s) => {
  try {
    const { protocol } = new URL(s);
    return protocol === "https:" || protocol === "http:";
  } catch {
    return false;
  }
}, "must be an absolute http or https URL");
const modes = z.array(text(CARD_MODE_CHARS_MAX)).max(CARD_MODES_MAX);
const distinct = <T>(items: readonly T[], key: (item: T) => string = String) =>
  new Set(items.map(key)).size === items.length;

const skillSchema = z.strictObject({
  id: text(CARD_SKILL_ID_CHARS_MAX),
  name: text(CARD_NAME_CHARS_MAX),
  description: text(CARD_DESCRIPTION_CHARS_MAX),
  tags: z.array(text(CARD_TAG_CHARS_MAX)).max(CARD_SKILL_TAGS_MAX),
  examples: z.array(text(CARD_EXAMPLE_CHARS_MAX)).max(CARD_EXAMPLES_MAX).optional(),
  inputModes: modes.optional(),
  outputModes: modes.optional(),
});

const extensionSchema = z.strictObject({
  uri: url,
  description: text(CARD_DESCRIPTION_CHARS_MAX).optional(),
  required: z.boolean().optional(),
  /** Extension-defined parameters: any JSON object (bounded by the delta's depth and size). */
  params: z.custom<{ [key: string]: OpValue }>(
    (v) => typeof v === "object" && v !== null && !Array.isArray(v),
    "params must be a JSON object",
  ).optional(),
});

const interfaceSchema = z.strictObject({
  url,
  /** `JSONRPC`, `GRPC`, `HTTP+JSON`, or another binding's name. */
  protocolBinding: text(CARD_LABEL_CHARS_MAX),
  /** The A2A version this interface speaks, e.g. `1.0` (A2A requires it; the mesh does not). */
  protocolVersion: text(CARD_LABEL_CHARS_MAX).optional(),
  tenant: text(CARD_TEXT_CHARS_MAX).optional(),
});

const meshSchema = z.strictObject({
  resources: z.strictObject({
    /** Cores (fractions allowed). */
    cpu: z.number().positive().max(1_000_000).optional(),
    memoryMb: z.number().int().min(0).max(1_000_000_000).optional(),
    /** GPUs. */
    gpu: z.number().int().min(0).max(1_024).optional(),
    specialisation: text(CARD_TEXT_CHARS_MAX).optional(),
  }).optional(),
  /** The regions the agent usually connects to. */
  homeRegions: z.array(z.string().regex(REGION_ID_PATTERN, "must be a region id"))
    .max(CARD_HOME_REGIONS_MAX).refine((r) => distinct(r), "must not repeat a region")
    .optional(),
});

/**
 * The strict schema of an agent card (A2A v1.0 `AgentCard`, the subset below, plus `mesh`).
 * Unknown members anywhere are refused, so a region's answer can add its own beside the card.
 */
export const agentCardSchema = z.strictObject({
  name: text(CARD_NAME_CHARS_MAX),
  description: text(CARD_DESCRIPTION_CHARS_MAX),
  version: text(CARD_LABEL_CHARS_MAX),
  provider: z.strictObject({ organization: text(CARD_TEXT_CHARS_MAX), url }).optional(),
  supportedInterfaces: z.array(interfaceSchema).min(1).max(CARD_INTERFACES_MAX),
  capabilities: z.strictObject({
    streaming: z.boolean().optional(),
    pushNotifications: z.boolean().optional(),
    extendedAgentCard: z.boolean().optional(),
    extensions: z.array(extensionSchema).max(CARD_EXTENSIONS_MAX).optional(),
  }).optional(),
  defaultInputModes: modes,
  defaultOutputModes: modes,
  skills: z.array(skillSchema).max(CARD_SKILLS_MAX)
    .refine((s) => distinct(s, (k) => k.id), "skill ids must be distinct")
    .refine(
      (s) => new Set(s.flatMap((k) => k.tags.map(tagTerm))).size <= CARD_TAGS_MAX,
      `a card may carry at most ${CARD_TAGS_MAX} distinct tags over all its skills`,
    ),
  documentationUrl: url.optional(),
  iconUrl: url.optional(),
  mesh: meshSchema.optional(),
});

export type AgentCard = z.infer<typeof agentCardSchema>;

/**
 * A tag as discovery compares it: in Unicode NFC (a tag typed decomposed, as some keyboards and
 * macOS file names give it, is the same tag), lowercased (`Translation` and `translation` are one
 * tag), and cut to `CARD_TAG_CHARS_MAX` UTF-16 code units without splitting a character (so a
 * term is never longer than a raw tag may be, however normalisation and case change it).
 */
export function tagTerm(tag: string): string {
  return cutUtf16(tag.normalize("NFC").toLowerCase(), CARD_TAG_CHARS_MAX);
}

/** `text` cut to at most `max` UTF-16 code units, never inside a surrogate pair. */
export function cutUtf16(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = "";
  for (const ch of text) {
    if (out.length + ch.length > max) break;
    out += ch;
  }
  return out;
}

/** The card a value is, or why not (`<path>: <message>` of the first problem). */
export function parseAgentCard(
  value: unknown,
): { ok: true; card: AgentCard } | { ok: false; detail: string } {
  const checked = agentCardSchema.safeParse(value);
  if (checked.success) return { ok: true, card: checked.data };
  const issue = checked.error.issues[0];
  return { ok: false, detail: `card ${issue.path.join(".") || "value"}: ${issue.message}` };
}

/**
 * Why the ops of a `_registry` delta by `author` are not one card op, or null: exactly one op,
 * a `set` of a valid card or a `del`, keyed by the delta's own author.
 */
export function registryOpsProblem(author: string, ops: readonly Op[]): string | null {
  if (ops.length !== 1) return `a ${REGISTRY_CHANNEL} delta carries exactly one op`;
  const op = ops[0];
  if (op.op !== "set" && op.op !== "del") {
    return `ops.0: only set (announce) and del (withdraw) are allowed in ${REGISTRY_CHANNEL}`;
  }
  if (!ID.test(op.key) || op.key !== author) {
    return "ops.0: key must be the delta's author: an agent writes only its own card";
  }
  if (op.op === "del") return null;
  const parsed = parseAgentCard(op.value);
  return parsed.ok ? null : `ops.0: ${parsed.detail}`;
}
