// Types of the public wrapper (index.js / index.mjs). The addon's own
// generated declarations are in native.d.ts (internal).

/** A Kubernetes object as plain JSON (the shape @kubernetes/client-node uses). */
export type KubeObject = { apiVersion?: string; kind?: string; metadata?: Record<string, any>; [k: string]: any }

/** A watch event `{type, object}`; a bare object counts as ADDED. */
export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject } | KubeObject

export type ErrorFamily = 'parse' | 'validation' | 'config' | 'write_path' | 'policy'

export interface ErrorInfo {
  code: string
  number: number
  family: ErrorFamily
  object: string
  field: string
  message: string
  /** `[code] object field f: message`, the Error's message. */
  display: string
}

export class SliceplaneError extends Error {
  /** Stable snake_case code, e.g. `invalid_ip`. */
  readonly code: string
  /** Stable number, e.g. 205. */
  readonly number: number
  readonly family: ErrorFamily
  /** The object, e.g. `Pod ns/name`; empty when there is none. */
  readonly object: string
  /** The field as a JSON path, e.g. `status.podIPs[0].ip`; empty when none. */
  readonly field: string
  /** The message without code, object and field. */
  readonly detail: string
}
export class ParseError extends SliceplaneError {}
export class ValidationError extends SliceplaneError {}
export class ConfigError extends SliceplaneError {}
export class WritePathError extends SliceplaneError {}
export class PolicyError extends SliceplaneError {}

/**
 * One event rejected by a bulk call; the others were applied. The core's
 * `wire` rejection (the same in every language and the CLI), plus `error`.
 */
export interface Rejected {
  /**
   * 0-based position among the batch's events: applyMany, the array index;
   * applyJsonLines, as the core's stream reader counts them (every value,
   * every List item and every unreadable chunk; blank lines are not events).
   */
  index: number
  /** 1-based line the event is reported at (applyMany: index + 1). */
  line: number
  /** Stable snake_case code; input cut off, not JSON or not UTF-8 is `malformed_input`. */
  code: string
  /** Stable number. */
  number: number
  /** What is wrong (without code, object and field). */
  message: string
  /** The object, e.g. `Pod ns/name`; empty when unknown. */
  object: string
  /** The field as a JSON path; empty when unknown. */
  field: string
  /** The same error as a typed SliceplaneError (not thrown). */
  error: SliceplaneError
}

/** One planned write (the core's `wire` shape), ready for CustomObjectsApi (cluster-scoped objects). */
export interface PlannedWrite {
  /** Op id to report the outcome with. */
  id: number
  op: 'create' | 'update' | 'delete'
  kind: 'CiliumEndpointSlice' | 'CiliumIdentity'
  name: string
  group: string
  version: string
  plural: string
  /** The full object (creates, updates); for deletes `{apiVersion, kind, metadata: {name, uid?, resourceVersion?}}`. */
  object: KubeObject
  /** Deletes: DeleteOptions.preconditions; null for creates and updates. */
  preconditions: { uid: string | null; resourceVersion: string | null } | null
}

export type Outcome =
  | { outcome: 'success'; resourceVersion?: string | null; uid?: string | null }
  | { outcome: 'conflict' }
  | { outcome: 'notFound' }
  | { outcome: 'alreadyExists' }
  | { outcome: 'error'; message: string }

export interface Stats {
  /** The initial sync is done. */
  synced: boolean
  endpoints: number
  endpointsWaiting: number
  slices: number
  dirtySlices: number
  inFlight: number
  identities: number
  namespaces: number
  nodes: number
}

export interface Counters {
  eventsApplied: number
  eventsRejected: number
  eventsIgnoredOtherShard: number
  eventsIgnoredOtherSource: number
  /** Keyed `kind/verb`, e.g. `slice/create`, `identity/delete`. */
  writesPlanned: Record<string, number>
  writesSucceeded: number
  writesFailed: number
  noOpSkips: number
  identitiesAllocated: number
  identitiesReleased: number
  identityExhausted: number
  compactionMoves: number
}

export interface EngineEvent {
  time: number
  category: 'slices' | 'endpoints' | 'identities' | 'adoption' | 'health' | 'input'
  kind: string
  severity: 'debug' | 'info' | 'warning' | 'error'
  subject: string
  message: string
}

/** The configuration as JSON (camelCase, see DESIGN.md). */
export type ConfigObject = Record<string, any>

export class Config {
  /** The defaults (Cilium's behaviour). */
  constructor()
  static fromYaml(text: string): Config
  static fromJson(text: string): Config
  static fromObject(object: ConfigObject): Config
  static defaults(): Config
  toObject(): ConfigObject
  toJson(): string
}

export type Bytes = Buffer | Uint8Array | string

export class Engine {
  /** A config, a config object, YAML text, or nothing for the defaults. */
  constructor(config?: Config | ConfigObject | string | null)
  apply(event: WatchEvent, nowMs: number): void
  applyJson(json: Bytes, nowMs: number): void
  /** Each event applied alone; rejected ones by array index. */
  applyMany(events: WatchEvent[], nowMs: number): Rejected[]
  /** A stream (JSON lines, pretty-printed values, Lists) read by the core's reader, in one crossing. */
  applyJsonLines(jsonLines: Bytes, nowMs: number): Rejected[]
  initialSyncDone(nowMs: number): void
  readonly synced: boolean
  flush(nowMs: number): PlannedWrite[]
  /**
   * `flush`, planning at most `maxSliceWrites` slice writes (the oldest due;
   * identity writes are not counted). The slices left out stay dirty, so a
   * caller with `n` idle writers asks for `n` and changes that arrive
   * meanwhile join those slices' one write. `ValidationError`
   * (`invalid_value`) unless `maxSliceWrites` is a finite number >= 0.
   */
  flushAtMost(nowMs: number, maxSliceWrites: number): PlannedWrite[]
  report(opId: number, outcome: Outcome, nowMs: number): void
  reportSuccess(opId: number, resourceVersion: string | null | undefined, uid: string | null | undefined, nowMs: number): void
  reportConflict(opId: number, nowMs: number): void
  reportNotFound(opId: number, nowMs: number): void
  reportAlreadyExists(opId: number, nowMs: number): void
  reportError(opId: number, message: string, nowMs: number): void
  desiredSlices(): KubeObject[]
  desiredIdentities(): KubeObject[]
  stats(): Stats
  counters(): Counters
  drainEvents(): EngineEvent[]
  /** The earliest time (ms) a flush could plan more; null when nothing is pending. */
  nextDue(): number | null
  inFlight(): number
  endpoint(namespace: string, name: string): { slice: string | null; identity: number | null } | null
  identityLabels(id: number): string[] | null
  /** Publishes a snapshot of the desired state (O(changes)). */
  publish(): Snapshot
  /** A handle that loads the latest published snapshot. */
  snapshotReader(): SnapshotReader
  /** All metrics in the Prometheus text exposition format. */
  metrics(): string
  health(): Health
  /** Marks every slice for comparison with the server at the next flush. */
  resync(nowMs: number): void
  /** Records an apply duration the caller measured (finite, >= 0). */
  observeApplySeconds(seconds: number): void
  /** Records a snapshot publish duration the caller measured (finite, >= 0). */
  observePublishSeconds(seconds: number): void
}

export type Health = { state: 'healthy' } | { state: 'degraded'; reason: string }

/** One endpoint as a snapshot (or consumer) shows it. */
export interface EndpointView {
  namespace: string
  name: string
  /** The slice holding it (consumer: the current copy's slice). */
  slice: string
  identity: number
  ips: string[]
  nodeIp: string | null
  encryptionKey: number
  namedPorts: Array<{ name: string; port: number; protocol: string }>
  serviceAccount: string | null
}

export interface SliceView {
  name: string
  namespace: string
  /** Endpoint names, sorted. */
  endpoints: string[]
}

export interface Fragmentation {
  slices: number
  /** ceil(endpoints / max per slice). */
  ideal: number
  /** slices / ideal (1 when both are 0; null when there are slices but no endpoints). */
  ratio: number | null
}

export interface SnapshotCounts {
  endpoints: number
  slices: number
  identities: number
  namespaces: number
  ips: number
}

/** An immutable point-in-time view; unaffected by later changes to its source. */
export class Snapshot {
  private constructor()
  /** Increases by one with every publish (0: nothing published yet). */
  readonly version: number
  slice(name: string): SliceView | null
  /** Every slice, sorted by name. */
  slices(): SliceView[]
  /** Slice names of a namespace, sorted. */
  slicesInNamespace(namespace: string): string[]
  namespaces(): Array<{ name: string; slices: number; endpoints: number }>
  endpoint(namespace: string, name: string): EndpointView | null
  /** Every endpoint, sorted by namespace and name. */
  endpoints(): EndpointView[]
  /** The security labels of an identity (`source:key=value`). */
  identityLabels(id: number): string[] | null
  /** The identity of a canonical labels key. */
  identityByKey(key: string): number | null
  identities(): number[]
  /** IP → owning endpoint; throws a ValidationError (`invalid_ip`) for a bad address. */
  lookupIp(ip: string): EndpointView | null
  identityOfIp(ip: string): number | null
  counts(): SnapshotCounts
  endpointCount(): number
  sliceCount(): number
  identityCount(): number
  namespaceCount(): number
  ipCount(): number
  /** Cluster-wide, or for one namespace. */
  fragmentation(namespace?: string | null): Fragmentation
}

/** Loads the latest snapshot its engine or consumer published. */
export class SnapshotReader {
  private constructor()
  load(): Snapshot
  identityOfIp(ip: string): number | null
  lookupIp(ip: string): EndpointView | null
  /** The latest published version. */
  readonly version: number
}

/** One endpoint change (the core's `wire` shape); `index`: the event's in a batch, null for a single apply. */
export type EndpointChange =
  | { index: number | null; op: 'upsert'; old: EndpointView | null; new: EndpointView }
  | { index: number | null; op: 'delete'; old: EndpointView; new: null }

export interface ConsumerCounters {
  eventsApplied: number
  eventsRejected: number
  /** Malformed slice entries skipped (the rest of their slices applied). */
  entriesSkipped: number
  upserts: number
  deletes: number
  slicesSeen: number
  staleDeletes: number
  slices: number
  endpoints: number
  ipCacheSize: number
}

/** The node agent's view of CiliumEndpointSlices (DESIGN §7). */
export class Consumer {
  /**
   * `maxPerSlice` (default 100) only affects fragmentation figures.
   * `sharedIpRelease`: what happens to the IP-cache entry of an IP two live
   * endpoints claim when its owner goes: `"handover"` (default: the remaining
   * claimant takes it) or `"cilium"` (removed, as Cilium's agent does).
   */
  constructor(options?: { maxPerSlice?: number | null; sharedIpRelease?: 'handover' | 'cilium' | null })
  apply(event: WatchEvent): EndpointChange[]
  applyJson(json: Bytes): EndpointChange[]
  /** Bulk, a stream read by the core's reader: the changes (each with its event's `index`) and the rejected events. */
  applyJsonLines(jsonLines: Bytes): { changes: EndpointChange[]; rejected: Rejected[] }
  publish(): Snapshot
  snapshotReader(): SnapshotReader
  counters(): ConsumerCounters
  drainEvents(): EngineEvent[]
  /** The caller's time (ms) stamped on events from now on. */
  setNow(nowMs: number): void
  /** The current view (not waiting for a publish). */
  endpoint(namespace: string, name: string): EndpointView | null
  /** The slices holding a copy of an endpoint, oldest first, and the current one. */
  copies(namespace: string, name: string): { copies: string[]; current: string } | null
  /** IP → owning endpoint now (not waiting for a publish). */
  lookupIp(ip: string): EndpointView | null
}

export type Peer = { endpoint: { namespace: string; name: string } } | { ip: string }
export type Decision = 'allow' | 'deny' | 'audit'

export interface Verdict {
  verdict: Decision
  egress: { decision: Decision; reason: string }
  ingress: { decision: Decision; reason: string }
  deciding: any[]
}

export interface Matrix {
  peers: Peer[]
  port: number | string
  protocol: 'TCP' | 'UDP' | 'SCTP' | string
  /** `cells[from][to]`; null when the probe could not be evaluated. */
  cells: Array<Array<Decision | null>>
  /** The Kubernetes e2e netpol truth table. */
  truthTable: string
}

export interface PolicyKey {
  kind: string
  namespace: string
  name: string
}

/** Why a probe has no verdict. */
export interface ProbeError {
  code: string
  number: number
  /** `from`, `to`, `port`, `protocol`, or empty. */
  field: string
  message: string
}

/**
 * One answer of `answerProbes` (the core's `wire` shape): the probe's fields
 * as given (null when absent; on success `protocol` is the one evaluated),
 * then the verdict's fields or `error`.
 */
export type ProbeAnswer = { from: any; to: any; port: any; protocol: any } & (
  | { verdict: Decision; egress: Verdict['egress']; ingress: Verdict['ingress']; deciding: any[] }
  | { error: ProbeError }
)

export class PolicyCluster {
  constructor(namespaces: KubeObject[], pods: KubeObject[], config?: Record<string, any> | null)
  upsertPolicy(policy: KubeObject, options?: { audit?: boolean }): PolicyKey
  removePolicy(key: PolicyKey): boolean
  identityOf(namespace: string, name: string): number | null
  /**
   * The verdict for one flow. `port`: 1-65535 (a number or a string holding
   * one) or a named port; `protocol`: TCP (default), UDP or SCTP, any case.
   * A bad probe throws a PolicyError (`invalid_probe`, `field` naming it).
   */
  probe(from: string, to: string, port: number | string, protocol?: 'TCP' | 'UDP' | 'SCTP' | string | null): Verdict
  /** Answers a stream of probes (JSON lines or values) in one call; never throws for a bad probe. */
  answerProbes(probes: Bytes): ProbeAnswer[]
  /** `port` and `protocol` as for `probe`. */
  matrix(port: number | string, protocol?: 'TCP' | 'UDP' | 'SCTP' | string | null): Matrix
}

export function errorCodes(): Array<{ code: string; number: number; family: ErrorFamily }>
export function coreVersion(): string
