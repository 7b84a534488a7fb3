/** The agent CLI's usage texts: one for the whole CLI, one per command. */

const OPTIONS = `Options:
  --url URL     the region to talk to (default: $MESH_URL, else http://127.0.0.1:8000)
  --key FILE    the agent key file (default: $MESH_AGENT_KEY, else ./agent.key.json)
  -h, --help    print this help`;

export const COMMANDS = ["keygen", "push", "get", "tail"] as const;
export type Command = typeof COMMANDS[number];

export const USAGE: Record<Command | "cli", string> = {
  cli: `Usage: deno task agent <command> [arguments] [options]

Commands:
  keygen                          create an agent key file (your agent id is its public key)
  push <channel> <op> <args>...   sign one delta carrying the ops and push it
  get <channel>                   print the channel's view
  tail <channel>                  print the channel's signed deltas, one JSON line each
  help [command]                  print help for a command

${OPTIONS}

Start a region first: deno task start (or deno task mesh for three).`,

  keygen: `Usage: deno task agent keygen [--key FILE]

Creates a new ed25519 key file (mode 0600) and prints the agent id. It never overwrites a file:
to replace a key, delete the old file first (its agent id is gone for good), or pass --key FILE
to create another one. Keep the file private: whoever holds it writes as this agent.

${OPTIONS}`,

  push: `Usage: deno task agent push <channel> <op> <args>... [<op> <args>...] [options]

Signs one delta carrying the ops, in order, and pushes it. Ops:
  set <key> <json>     set a map key (a word that is not JSON is taken as a string)
  del <key>            delete a map key
  add <set> <elem>     add an element to a set
  rmv <set> <elem>     remove an element (the adds of it that the region holds)
  inc <counter> <n>    add the integer n (may be negative, |n| <= 9007199254740991)

Each delta carries the next seq of this key in the channel. The seqs this key used are kept in
the state file beside the key (agent.key.json -> agent.key.seq.json), claimed under a file lock,
so concurrent pushes on one machine never reuse one. Never use one key on two machines at once:
two deltas with one seq get the key quarantined in every region, for good.

Example: deno task agent push demo set greeting '"hello"' inc visits 3 add online alice

${OPTIONS}`,

  get: `Usage: deno task agent get <channel> [--url URL]

Prints the channel's view as JSON: map, sets, counters (exact integers of any size), heads,
gaps, fingerprint and the number of deltas.

${OPTIONS}`,

  tail: `Usage: deno task agent tail <channel> [--after CURSOR] [--follow] [--url URL]

Prints each delta of the channel in the region's arrival order as one JSON line: the signed
envelope exactly as stored, {"body":"<signed JSON text>","sig":"<signature>"}, so anyone can
verify it (docs/protocol.md §3) or push it to another region as it is. When it is caught up it
writes the cursor to stderr: pass it as --after to resume after the last delta printed.

  --after CURSOR   start after this cursor (default 0: from the first delta)
  --follow         keep polling for new deltas until interrupted

${OPTIONS}`,
};
