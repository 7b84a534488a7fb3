/**
 * Every span, metric, attribute and log event name the mesh emits. Each one is declared in
 * docs/telemetry/registry.yaml; test/telemetry/registry_test.ts fails on any name used here or
 * emitted at run time that the registry does not declare. Code never spells a name inline.
 */

// Spans
export const SPAN_PUSH = "mesh.push";
export const SPAN_VIEW_READ = "mesh.view.read";
export const SPAN_TAIL_READ = "mesh.tail.read";
export const SPAN_CHANNELS_LIST = "mesh.channels.list";
export const SPAN_PEER_DELTAS = "mesh.peer.deltas";
export const SPAN_FANOUT = "mesh.fanout.drain";
export const SPAN_FANOUT_SEND = "mesh.fanout.send";
export const SPAN_INGEST_VERIFY = "mesh.ingest.verify";
export const SPAN_INGEST_COMMIT = "mesh.ingest.commit";
export const SPAN_HEARTBEAT = "mesh.heartbeat.round";
export const SPAN_ANTI_ENTROPY = "mesh.antientropy.session";
export const SPAN_REGISTRY_INDEX = "mesh.registry.index";
export const SPAN_REGISTRY_DISCOVER = "mesh.registry.discover";
export const SPAN_REGISTRY_CARD = "mesh.registry.card.read";
export const SPAN_REGISTRY_HEARTBEAT = "mesh.registry.heartbeat";
export const SPAN_INBOX_READ = "mesh.inbox.read";
export const SPAN_INBOX_ACK = "mesh.inbox.ack";
export const SPAN_SYNC_ROUND = "mesh.sync.round";
export const SPAN_LEADER_CHANGE = "mesh.leader.change";
export const SPAN_PARTITION_CHANGE = "mesh.partition.change";
export const SPAN_JOB_TICK = "mesh.job.tick";
export const SPAN_PROPOSAL_READ = "mesh.proposal.read";
export const SPAN_PROPOSAL_LIST = "mesh.proposal.list";

// Metrics
export const METRIC_DELTAS_INGESTED = "mesh.deltas.ingested";
export const METRIC_INGEST_DURATION = "mesh.ingest.duration";
export const METRIC_VIEW_READ_DURATION = "mesh.view.read.duration";
export const METRIC_FANOUT_DELTAS = "mesh.fanout.deltas";
export const METRIC_SYNC_DELTAS = "mesh.antientropy.deltas";
export const METRIC_SYNC_PENALTIES = "mesh.antientropy.penalties";
export const METRIC_HEARTBEAT_RTT = "mesh.heartbeat.rtt";
export const METRIC_RATE_LIMIT_REFUSALS = "mesh.ratelimit.refusals";
export const METRIC_REGISTRY_INDEXED = "mesh.registry.indexed";
export const METRIC_REGISTRY_DISCOVER_DURATION = "mesh.registry.discover.duration";
export const METRIC_AGENT_SIGNATURE_REFUSALS = "mesh.agent_signature.refusals";
export const METRIC_TOPIC_SUBSCRIBERS = "mesh.topic.subscribers";
export const METRIC_TOPIC_DELIVERED = "mesh.topic.delivered";
export const METRIC_TOPIC_DROPPED = "mesh.topic.dropped";
export const METRIC_PROPAGATION_LAG = "mesh.propagation.lag";
export const METRIC_OUTBOX_DEPTH = "mesh.fanout.outbox";
export const METRIC_SYNC_ROUNDS = "mesh.antientropy.rounds";
export const METRIC_SYNC_BYTES = "mesh.antientropy.bytes";
export const METRIC_PEER_PHI = "mesh.peer.phi";
export const METRIC_PARTITION_MINORITY = "mesh.partition.minority";
export const METRIC_PARTITION_REGIONS = "mesh.partition.regions";
export const METRIC_LEASE_EPOCH = "mesh.lease.epoch";
export const METRIC_LEADER_CHANGES = "mesh.leader.changes";
export const METRIC_STORE_DURATION = "mesh.store.duration";
export const METRIC_STORE_ERRORS = "mesh.store.errors";
export const METRIC_JOB_TICKS = "mesh.job.ticks";
export const METRIC_PROPOSAL_TALLY_DURATION = "mesh.proposal.tally.duration";

// Attributes
export const ATTR_REGION = "mesh.region";
export const ATTR_TOPIC_SUBJECT = "mesh.topic.subject";
export const ATTR_INBOX_MESSAGES = "mesh.inbox.messages";
export const ATTR_INBOX_EXAMINED = "mesh.inbox.examined";
export const ATTR_INBOX_SWEPT = "mesh.inbox.swept";
export const ATTR_CHANNEL = "mesh.channel";
export const ATTR_PROPOSAL_STATE = "mesh.proposal.state";
export const ATTR_PROPOSAL_VOTERS = "mesh.proposal.voters";
export const ATTR_STORE_KIND = "mesh.store.kind";
export const ATTR_OUTCOME = "mesh.delta.outcome";
export const ATTR_REASON = "mesh.delta.reject_reason";
export const ATTR_PUSH_DELTAS = "mesh.push.deltas";
export const ATTR_PUSH_ACCEPTED = "mesh.push.accepted";
export const ATTR_PUSH_DUPLICATE = "mesh.push.duplicate";
export const ATTR_PUSH_REJECTED = "mesh.push.rejected";
export const ATTR_PUSH_RATE_LIMITED = "mesh.push.rate_limited";
export const ATTR_RATE_LIMIT_SCOPE = "mesh.ratelimit.scope";
export const ATTR_RATE_LIMIT_THROTTLED = "mesh.ratelimit.throttled";
export const ATTR_VIEW_DELTAS = "mesh.view.deltas";
export const ATTR_VIEW_CATCHUP = "mesh.view.catchup_deltas";
export const ATTR_CHANNELS_LISTED = "mesh.channels.listed";
export const ATTR_ERROR_TYPE = "error.type";
export const ATTR_PEER = "mesh.peer";
export const ATTR_ORIGIN = "mesh.delta.origin";
export const ATTR_SYNC_DIRECTION = "mesh.sync.direction";
export const ATTR_SYNC_ROUNDS = "mesh.sync.rounds";
export const ATTR_SYNC_BYTES = "mesh.sync.bytes";
export const ATTR_SYNC_PENALTY = "mesh.sync.penalty";
export const ATTR_FANOUT_SENT = "mesh.fanout.sent";
export const ATTR_FANOUT_BEHIND = "mesh.fanout.behind";
export const ATTR_LEADER_EPOCH = "mesh.leader.epoch";
export const ATTR_PARTITION = "mesh.partition.state";
export const ATTR_PEERS_ANSWERED = "mesh.heartbeat.answered";
export const ATTR_REGISTRY_TRIGGER = "mesh.registry.trigger";
export const ATTR_REGISTRY_OUTCOME = "mesh.registry.index.outcome";
export const ATTR_REGISTRY_DELTAS = "mesh.registry.index.deltas";
export const ATTR_REGISTRY_DONE = "mesh.registry.index.done";
export const ATTR_REGISTRY_LISTING = "mesh.registry.listing";
export const ATTR_REGISTRY_SCANNED = "mesh.registry.scanned";
export const ATTR_REGISTRY_RESULTS = "mesh.registry.results";
export const ATTR_AGENT_SIGNATURE_OUTCOME = "mesh.agent_signature.outcome";

// Blobs (src/blobs/, docs/protocol.md §25)
export const SPAN_BLOB_UPLOAD = "mesh.blob.upload";
export const SPAN_BLOB_READ = "mesh.blob.read";
export const SPAN_BLOB_PULL = "mesh.blob.pull";
export const SPAN_BLOB_GC = "mesh.blob.gc";
export const METRIC_BLOB_BYTES = "mesh.blob.bytes";
export const METRIC_BLOB_PULLS = "mesh.blob.pulls";
export const METRIC_BLOB_COLLECTED = "mesh.blob.collected";
export const ATTR_BLOB_OUTCOME = "mesh.blob.outcome";
export const ATTR_BLOB_SIZE = "mesh.blob.size";
export const ATTR_BLOB_SOURCE = "mesh.blob.source";
export const ATTR_BLOB_DIRECTION = "mesh.blob.direction";
export const ATTR_BLOB_PULL_OUTCOME = "mesh.blob.pull.outcome";
export const ATTR_BLOB_GC_KIND = "mesh.blob.gc.kind";
export const ATTR_BLOB_GC_EXAMINED = "mesh.blob.gc.examined";
export const ATTR_LEADER_CHANGE = "mesh.leader.change";
export const ATTR_PARTITION_PREVIOUS = "mesh.partition.previous";
export const ATTR_PARTITION_REACHABLE = "mesh.partition.reachable";
export const ATTR_STORE_OPERATION = "mesh.store.operation";
export const ATTR_JOB = "mesh.job";
export const ATTR_JOB_OUTCOME = "mesh.job.outcome";
export const ATTR_JOB_SCHEDULER = "mesh.job.scheduler";

// Log events (src/telemetry/log.ts): one JSON line each
export const EVENT_REGION_STARTED = "mesh.region.started";
export const EVENT_REGION_STOPPED = "mesh.region.stopped";
export const EVENT_REGION_STOP_FORCED = "mesh.region.stop_forced";
export const EVENT_PEER_UP = "mesh.peer.up";
export const EVENT_PEER_DOWN = "mesh.peer.down";
export const EVENT_PARTITION_CHANGED = "mesh.partition.changed";
export const EVENT_LEADER_GAINED = "mesh.leader.gained";
export const EVENT_LEADER_LOST = "mesh.leader.lost";
export const EVENT_STORE_ERROR = "mesh.store.error";
export const EVENT_JOB_FAILED = "mesh.job.failed";
export const EVENT_REGISTRY_FAILED = "mesh.registry.failed";
export const EVENT_HTTP_FAILED = "mesh.http.failed";
export const EVENT_HTTP_REQUEST = "mesh.http.request";

// View checkpoints (src/views/view_checkpoint.ts, src/views/checkpoint_job.ts)
export const SPAN_VIEW_CHECKPOINT = "mesh.view.checkpoint";
export const METRIC_VIEW_CHECKPOINTS = "mesh.view.checkpoints";
export const ATTR_VIEW_SOURCE = "mesh.view.source";
export const ATTR_VIEW_CHECKPOINT_OUTCOME = "mesh.view.checkpoint.outcome";
export const ATTR_VIEW_CHECKPOINT_CHARS = "mesh.view.checkpoint.chars";
export const ATTR_VIEW_CHECKPOINT_CURSOR = "mesh.view.checkpoint.cursor";

// Bootstrap by bulk copy (src/mesh/bootstrap.ts, src/mesh/bootstrap_server.ts, protocol §26)
export const SPAN_BOOTSTRAP_PAGE = "mesh.bootstrap.page";
export const SPAN_BOOTSTRAP_SERVE = "mesh.bootstrap.serve";
export const METRIC_BOOTSTRAP_PAGES = "mesh.bootstrap.pages";
export const METRIC_BOOTSTRAP_DELTAS = "mesh.bootstrap.deltas";
export const ATTR_BOOTSTRAP_OUTCOME = "mesh.bootstrap.outcome";
export const EVENT_BOOTSTRAP_STARTED = "mesh.bootstrap.started";
export const EVENT_BOOTSTRAP_ENDED = "mesh.bootstrap.ended";
