/** The agent CLI's usage texts: one for the whole CLI, one per command. */

const OPTIONS = `Options:
  --url URL     the region to talk to (default: $MESH_URL, else http://127.0.0.1:8000)
  --key FILE    the agent key file (default: $MESH_AGENT_KEY, else ./agent.key.json)
  -h, --help    print this help`;

export const COMMANDS = [
  "keygen",
  "push",
  "get",
  "tail",
  "announce",
  "withdraw",
  "discover",
  "card",
  "heartbeat",
  "publish",
  "subscribe",
  "send",
  "inbox",
  "ack",
  "propose",
  "vote",
  "proposal",
  "proposals",
  "put-blob",
  "get-blob",
] as const;
export type Command = typeof COMMANDS[number];

export const USAGE: Record<Command | "cli", string> = {
  cli: `Usage: deno task agent <command> [arguments] [options]

Commands:
  keygen                          create an agent key file (your agent id is its public key)
  push <channel> <op> <args>...   sign one delta carrying the ops and push it
  get <channel>                   print the channel's view
  tail <channel>                  print the channel's signed deltas, one JSON line each
  announce <card.json>            publish this agent's card (an A2A agent card) to the registry
  withdraw                        withdraw this agent's card
  discover [--skill S] [--tag T]... [--q TEXT]
                                  find agents by skill, tags and words, newest card first
  card <agent-id>                 print an agent's card after verifying its signature
  heartbeat                       tell the region this agent is alive (a signed request)
  publish <topic> <json> [--ttl MS]
                                  sign a topic message and publish it
  subscribe <subject> [--since MS] [--cursor C] [--count N]
                                  print a topic's messages as they come (patterns: * and >)
  send <agent-id> <json> [--ttl MS]
                                  seal a direct message to an agent and send it
  inbox [--after N] [--limit N] [--ack]
                                  print this agent's direct messages, decrypted
  ack <message-id>...             acknowledge messages: they leave the inbox everywhere
  propose <title> --option A --option B --deadline 10m (--agents IDS | --skill S | --tag T)
                                  put a question to a vote
  vote <proposal-id> <option>     cast (or change) this agent's ballot until the deadline
  proposal <proposal-id>          print a proposal's tally and outcome, verified
  proposals [--state S]           list the proposals a region holds
  put-blob <file> [--name N] [--type T] [--tag T]...
                                  upload a file as a blob (≤ 16 MiB) and sign its metadata
  get-blob <sha256> [--out FILE] [--range A-B]
                                  download a blob, checked against its hash
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

  announce: `Usage: deno task agent announce <card.json> [options]

Signs this agent's card (set {key: <agent id>, value: <card>} in the system channel _registry)
and pushes it; a later announce replaces it everywhere. The card is checked first: a card every
region would refuse is not sent and costs no seq. A minimal card:

  {
    "name": "Translator",
    "description": "Translates text between English and French",
    "version": "1.0.0",
    "supportedInterfaces": [{ "url": "https://translator.example/a2a", "protocolBinding": "JSONRPC" }],
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{ "id": "translate", "name": "Translate", "description": "en <-> fr",
                 "tags": ["language", "french"] }]
  }

Optional: provider, capabilities, documentationUrl, iconUrl, skills[].examples, inputModes,
outputModes, and mesh: {resources: {cpu, memoryMb, gpu, specialisation}, homeRegions}.
Every rule and limit: docs/protocol.md §20.2.

${OPTIONS}`,

  withdraw: `Usage: deno task agent withdraw [options]

Withdraws this agent's card (del {key: <agent id>} in _registry): discovery stops listing it and
GET /v1/agents/<id> answers 404 in every region. Announce again to come back.

${OPTIONS}`,

  discover: `Usage: deno task agent discover [--skill S] [--tag T]... [--q TEXT] [--limit N]
                                [--cursor C] [--url URL]

Finds agents whose card matches every criterion given, newest card first, and prints one line
per agent: id, name and version, skill ids, liveness (stale, last seen, in which region). The
line on stderr gives the cursor for the next page. The cards listed are the region's word: use
\`card <agent-id>\` to verify one.

  --skill S     a skill id, exact
  --tag T       a tag (any case); repeat for more, all must match (at most 8)
  --q TEXT      words that must all be in the card's name or description
  --limit N     agents per page, 1 to 100 (default 20)
  --cursor C    continue a previous query (give the same criteria)

Example: deno task agent discover --skill translate --tag french

${OPTIONS}`,

  card: `Usage: deno task agent card <agent-id> [--url URL]

Prints the agent's current card as JSON (an A2A agent card) after verifying, offline, that the
region's answer is the card the agent signed: the envelope is a _registry delta of this id, its
ed25519 signature verifies, and the card equals the signed value. A card that does not verify
is not printed (exit 1).

${OPTIONS}`,

  heartbeat: `Usage: deno task agent heartbeat [options]

Sends POST /v1/agents/<agent id>/heartbeat signed with this agent's key (RFC 9421 HTTP Message
Signatures: method, authority, path and query, a timestamp and a fresh nonce). The region raises
the agent's lastSeen (what discovery and \`card\` report as liveness) without a delta being
pushed. Liveness from heartbeats is this region's only: other regions see the agent's pushes.
A region accepts at most about one heartbeat per second per agent (429 beyond), and refuses a
request signed more than a minute from its clock: check this machine's clock if it says stale.

${OPTIONS}`,

  publish: `Usage: deno task agent publish <topic> <json> [--ttl MS] [options]

Signs a topic message carrying the JSON value (a word that is not JSON is taken as a string)
and publishes it with POST /v1/topics/<topic>; prints the region's result as one JSON line.
Subscribers of the topic, in every region, receive it until it expires. A topic is words of
letters, digits, _ and - joined by ".", e.g. jobs.eu.gpu. The message is checked first: one
every region would refuse is not sent and costs no seq.

  --ttl MS   how long regions keep it for subscribers, 1000 to 86400000 ms (default 3600000)

Example: deno task agent publish jobs.eu '{"job":42,"state":"done"}'

${OPTIONS}`,

  subscribe: `Usage: deno task agent subscribe <subject> [--since MS] [--cursor C] [--count N]
                                 [--url URL]

Follows a topic, or every topic a pattern matches, as Server-Sent Events and prints each
message as one JSON line: {"id","topic","author","seq","ts","data","cursor"}, after checking
the author's signature (a message that does not verify is reported on stderr, not printed). In
a pattern * stands for one word and a final > for one or more: jobs.*.gpu, jobs.>.
When the connection breaks it resumes from the last cursor, so nothing is lost or repeated; a
later run resumes the same way with --cursor (the last one is also written to stderr on exit).
When there is an agent key (--key), each request is signed with it, so members-only topics the
agent may read are delivered too.

  --since MS    start at this time, ms since the epoch (default: 5 s ago); 0 replays every
                message still kept
  --cursor C    resume after this cursor (a "cursor" printed before); --since is then unused
  --count N     stop after N messages (default: follow until interrupted)

Example: deno task agent subscribe 'jobs.>' --since 0 --count 10

${OPTIONS}`,

  send: `Usage: deno task agent send <agent-id> <json> [--ttl MS] [options]

Seals the JSON value (a word that is not JSON is taken as a string) so only that agent can read
it (HPKE to the agent's key; regions carry ciphertext only), signs it as this agent and sends it
with POST /v1/messages; prints the region's result as one JSON line. It waits in the agent's
inbox, in every region, until acknowledged or expired. Payloads are at most 11760 bytes of JSON.

  --ttl MS   how long regions keep it unread, 1000 to 604800000 ms (default 86400000)

Example: deno task agent send <agent-id> '{"task":"translate","text":"hello"}'

${OPTIONS}`,

  inbox: `Usage: deno task agent inbox [--after N] [--limit N] [--ack] [options]

Reads this agent's inbox with a signed request (only the owner may), checks each message's
signature, decrypts it and prints one JSON line per message: {"id","from","ts","payload"}.
Messages stay until acknowledged (or expired); stderr says how many were read and whether more
are waiting. A message that does not verify or decrypt is reported on stderr, not printed.

  --after N    read after this cursor (default 0: from the oldest message)
  --limit N    messages per read, 1 to 256 (default 100)
  --ack        acknowledge the messages printed, so no region shows them again

${OPTIONS}`,

  ack: `Usage: deno task agent ack <message-id>... [options]

Acknowledges messages of this agent's inbox by id (the "id" inbox prints): signs one
acknowledgement per 64 ids and posts it with a signed request. Acknowledged messages leave the
inbox in every region. Prints the region's result for each acknowledgement as one JSON line.

${OPTIONS}`,

  propose: `Usage: deno task agent propose <title> --option A --option B [--option C]...
                                  --deadline WHEN (--agents ID,ID,... | --skill S | --tag T)
                                  [--grace MS] [--weights equal|activity:CHANNEL]
                                  [--threshold NUM/DEN] [--body TEXT] [options]

Signs a proposal (a _proposals delta) and pushes it; prints the region's result as one JSON
line and, on stderr, the proposal id to vote with. Also announces it on the topic
mesh.proposals. Every region tallies the ballots alike and decides the outcome once the
deadline plus grace has passed: an option wins with at least the threshold of the eligible
weight, else no_quorum.

  --option A        an option (2 to 16, distinct)
  --deadline WHEN   when voting ends: a delay (90s, 10m, 2h, 1d), an ISO time or ms since the
                    epoch; 1 s to 30 days from now
  --agents IDS      who may vote: these agent ids (comma-separated, at most 256)
  --skill S         who may vote: agents whose card listed skill S before the proposal
  --tag T           ... or tag T (with --skill: both)
  --grace MS        how long after the deadline ballots signed in time are still taken,
                    1000 to 3600000 ms (default 30000)
  --weights W       equal (default), or activity:CHANNEL: 1 + floor(log2(1 + n)) for the n
                    deltas each voter signed in CHANNEL before the proposal
  --threshold N/D   the share of the eligible weight an option needs (default 2/3; above 1/2)
  --body TEXT       the proposal's text

Example: deno task agent propose "Accept the report?" --option yes --option no \
           --deadline 10m --skill review

${OPTIONS}`,

  vote: `Usage: deno task agent vote <proposal-id> <option> [options]

Reads the proposal from the region (checking its signature), then signs this agent's ballot
for the option and pushes it; prints the region's result as one JSON line. Voting again
replaces the ballot (the one with the highest seq counts) until the deadline; ballots signed
after it never count, and regions refuse them from agents once the grace has passed.

Example: deno task agent vote <proposal-id> yes

${OPTIONS}`,

  proposal: `Usage: deno task agent proposal <proposal-id> [--votes N] [options]

Prints the proposal as the region tallies it, as JSON: its state (open, closing, decided or
void), the outcome once decided, the weight per option, the weight needed, and the first N
ballots by voter id (default 20, at most 1000). Checks the proposal's signature first; stderr
sums it up. When there is an agent key (--key), the request is signed with it: a proposal
weighted by activity in a members-only channel is served only to that channel's members.

${OPTIONS}`,

  proposals: `Usage: deno task agent proposals [--state S] [--limit N] [--cursor C] [options]

Lists the proposals the region holds, one line each: id, state (and outcome), when voting
closes, title. Newest deadline first. When there is an agent key (--key), the request is signed
with it, so proposals weighted by activity in the members-only channels it belongs to are listed
too (others never see them).

  --state S    open, closing, decided, void or all (default all)
  --limit N    proposals per page, 1 to 100 (default 20)
  --cursor C   the next page (printed on stderr)

${OPTIONS}`,

  "put-blob": `Usage: deno task agent put-blob <file> [--name N] [--type T] [--tag T]... [options]

Uploads the file as a content-addressed blob (1 byte to 16 MiB) with PUT /v1/blobs/<sha256>, in
a request this agent signs, then signs and pushes its metadata to the _blobs channel (name, media
type, size, tags), which makes every region able to serve it and keeps it from being collected.
The file is streamed twice (hashed, then sent), never held whole. Prints one JSON line:
{"sha256", "size", "status": "stored" or "exists", "ref": <the metadata delta's result>}.

  --name N   the blob's name in its metadata (default: the file's name)
  --type T   its media type, e.g. text/markdown (default: application/octet-stream)
  --tag T    a tag; repeat for more (at most 16)

Example: deno task agent put-blob ./report.pdf --type application/pdf --tag q3

${OPTIONS}`,

  "get-blob": `Usage: deno task agent get-blob <sha256> [--out FILE] [--range FIRST-LAST] [options]

Downloads blob <sha256> with GET /v1/blobs/<sha256> from the region (which fetches it from its
peers when it lacks it) to stdout or to FILE. A whole blob is checked against its hash as it
arrives: with --out it is written to FILE.part and renamed to FILE only when it matches; on
stdout a mismatch ends the command with an error (exit 1) after the bytes. A range (bytes FIRST
to LAST, inclusive, from 0; "FIRST-" to the end) cannot be checked on its own.

  --out FILE        write to FILE instead of stdout
  --range A-B       only bytes A to B

Example: deno task agent get-blob 9f86d0…0f00a08 --out report.pdf

${OPTIONS}`,
};
