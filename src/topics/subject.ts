/**
 * Subscription patterns over topic names, as NATS users know them (docs/protocol.md §22.3): a
 * topic is tokens joined by `.`; in a pattern `*` stands for exactly one token and a final `>`
 * for one or more. `agents.*.status` matches `agents.a1.status`; `jobs.>` matches `jobs.eu` and
 * `jobs.eu.gpu` but not `jobs`. Pure.
 */
import { TOPIC_CHANNEL_PREFIX, TOPIC_CHARS_MAX } from "../protocol/message_kinds.ts";

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** A checked subscription pattern. */
export interface Subject {
  readonly pattern: string;
  readonly tokens: readonly string[];
  /** True when the pattern has no wildcard: it names one topic. */
  readonly literal: boolean;
  /**
   * The channel-name prefix every matching topic's channel starts with: `_topic:` and the
   * pattern's tokens before its first wildcard (with their `.`), for listing candidates.
   */
  readonly channelPrefix: string;
}

/** The pattern checked, or null when it is not one (empty token, `>` not last, bad chars). */
export function parseSubject(pattern: string): Subject | null {
  if (pattern.length === 0 || pattern.length > TOPIC_CHARS_MAX) return null;
  const tokens = pattern.split(".");
  for (const [i, token] of tokens.entries()) {
    if (token === ">" && i !== tokens.length - 1) return null;
    if (token !== "*" && token !== ">" && !TOKEN.test(token)) return null;
  }
  const wild = tokens.findIndex((t) => t === "*" || t === ">");
  const literal = wild < 0;
  const fixed = literal ? pattern : tokens.slice(0, wild).map((t) => t + ".").join("");
  return { pattern, tokens, literal, channelPrefix: TOPIC_CHANNEL_PREFIX + fixed };
}

/** Whether the topic `topic` matches the subject. */
export function subjectMatches(subject: Subject, topic: string): boolean {
  if (subject.literal) return subject.pattern === topic;
  const parts = topic.split(".");
  const { tokens } = subject;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === ">") return parts.length > i;
    if (i >= parts.length) return false;
    if (tokens[i] !== "*" && tokens[i] !== parts[i]) return false;
  }
  return parts.length === tokens.length;
}
