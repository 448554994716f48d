'use strict'
// sliceplane for Node.js: a thin wrapper over the napi-rs addon (native.js).
// It rebuilds typed errors from the addon's encoded reasons and accepts
// plain objects where the addon takes a native Config. No engine logic here.

const native = require('./native.js')

const ERROR_PREFIX = '\u0001sliceplane-error:'

/** Base class of every error the engine reports. */
class SliceplaneError extends Error {
  constructor(info) {
    super(info.display || info.message)
    this.name = this.constructor.name
    /** Stable snake_case code, e.g. `invalid_ip`. */
    this.code = info.code
    /** Stable number, e.g. 205. */
    this.number = info.number
    /** `parse` | `validation` | `config` | `write_path` | `policy`. */
    this.family = info.family
    /** The object, e.g. `Pod ns/name`; empty when there is none. */
    this.object = info.object
    /** The field as a JSON path; empty when none. */
    this.field = info.field
    /** The message without code, object and field. */
    this.detail = info.message
  }
}
class ParseError extends SliceplaneError {}
class ValidationError extends SliceplaneError {}
class ConfigError extends SliceplaneError {}
class WritePathError extends SliceplaneError {}
class PolicyError extends SliceplaneError {}

const FAMILIES = {
  parse: ParseError,
  validation: ValidationError,
  config: ConfigError,
  write_path: WritePathError,
  policy: PolicyError,
}

/** A typed error from the `{code, number, family, object, field, message}` info. */
function errorFromInfo(info) {
  const Cls = FAMILIES[info.family] || SliceplaneError
  return new Cls(info)
}

/** Turns an addon error carrying an encoded core error into its subclass. */
function mapError(e) {
  if (e && typeof e.message === 'string' && e.message.startsWith(ERROR_PREFIX)) {
    let info
    try {
      info = JSON.parse(e.message.slice(ERROR_PREFIX.length))
    } catch {
      return e
    }
    return errorFromInfo(info)
  }
  return e
}

function call(f) {
  try {
    return f()
  } catch (e) {
    throw mapError(e)
  }
}

function mapRejected(list) {
  for (const r of list) r.error = errorFromInfo(r.error)
  return list
}

/** The engine configuration; `new Config()` is the defaults. */
class Config {
  constructor(nativeConfig) {
    this._native = nativeConfig instanceof native.NativeConfig ? nativeConfig : new native.NativeConfig()
  }
  static fromYaml(text) {
    return new Config(call(() => native.NativeConfig.fromYaml(text)))
  }
  static fromJson(text) {
    return new Config(call(() => native.NativeConfig.fromJson(text)))
  }
  static fromObject(object) {
    return new Config(call(() => native.NativeConfig.fromObject(object)))
  }
  static defaults() {
    return new Config()
  }
  toObject() {
    return this._native.toObject()
  }
  toJson() {
    return this._native.toJson()
  }
}

function toNativeConfig(config) {
  if (config === undefined || config === null) return undefined
  if (config instanceof Config) return config._native
  if (typeof config === 'string') return Config.fromYaml(config)._native
  return Config.fromObject(config)._native
}

/** The endpoint-slice engine. */
class Engine {
  constructor(config) {
    const c = toNativeConfig(config)
    this._native = call(() => new native.NativeEngine(c))
  }
  apply(event, nowMs) {
    return call(() => this._native.apply(event, nowMs))
  }
  applyJson(buffer, nowMs) {
    return call(() => this._native.applyJson(toBuffer(buffer), nowMs))
  }
  applyMany(events, nowMs) {
    if (!Array.isArray(events)) throw new TypeError('applyMany takes an array of watch events')
    // JSON.stringify is much faster than walking objects through napi, and
    // never emits a raw newline, so line i is events[i], applied alone.
    const lines = new Array(events.length)
    for (let i = 0; i < events.length; i++) lines[i] = stringifyEvent(events[i])
    return mapRejected(call(() => this._native.applyJsonItems(Buffer.from(lines.join('\n')), nowMs)))
  }
  applyJsonLines(buffer, nowMs) {
    return mapRejected(call(() => this._native.applyJsonLines(toBuffer(buffer), nowMs)))
  }
  initialSyncDone(nowMs) {
    return call(() => this._native.initialSyncDone(nowMs))
  }
  get synced() {
    return this._native.synced
  }
  flush(nowMs) {
    return JSON.parse(call(() => this._native.flushJson(nowMs, null)))
  }
  flushAtMost(nowMs, maxSliceWrites) {
    return JSON.parse(call(() => this._native.flushJson(nowMs, maxSliceWrites)))
  }
  report(opId, outcome, nowMs) {
    return call(() => this._native.report(opId, outcome, nowMs))
  }
  reportSuccess(opId, resourceVersion, uid, nowMs) {
    return call(() => this._native.reportSuccess(opId, resourceVersion ?? null, uid ?? null, nowMs))
  }
  reportConflict(opId, nowMs) {
    return call(() => this._native.reportConflict(opId, nowMs))
  }
  reportNotFound(opId, nowMs) {
    return call(() => this._native.reportNotFound(opId, nowMs))
  }
  reportAlreadyExists(opId, nowMs) {
    return call(() => this._native.reportAlreadyExists(opId, nowMs))
  }
  reportError(opId, message, nowMs) {
    return call(() => this._native.reportError(opId, message, nowMs))
  }
  desiredSlices() {
    return this._native.desiredSlices()
  }
  desiredIdentities() {
    return this._native.desiredIdentities()
  }
  stats() {
    return this._native.stats()
  }
  counters() {
    return this._native.counters()
  }
  drainEvents() {
    return this._native.drainEvents()
  }
  nextDue() {
    return this._native.nextDue() ?? null
  }
  inFlight() {
    return this._native.inFlight()
  }
  endpoint(namespace, name) {
    return call(() => this._native.endpoint(namespace, name))
  }
  identityLabels(id) {
    return call(() => this._native.identityLabels(id)) ?? null
  }
  publish() {
    return new Snapshot(this._native.publish())
  }
  snapshotReader() {
    return new SnapshotReader(this._native.snapshotReader())
  }
  metrics() {
    return this._native.metrics()
  }
  health() {
    return this._native.health()
  }
  resync(nowMs) {
    return call(() => this._native.resync(nowMs))
  }
  observeApplySeconds(seconds) {
    return call(() => this._native.observeApplySeconds(seconds))
  }
  observePublishSeconds(seconds) {
    return call(() => this._native.observePublishSeconds(seconds))
  }
}

/** An immutable snapshot; unaffected by later changes to its source. */
class Snapshot {
  constructor(nativeSnapshot) {
    this._native = nativeSnapshot
  }
  get version() {
    return this._native.version
  }
  slice(name) {
    return call(() => this._native.slice(name))
  }
  slices() {
    return this._native.slices()
  }
  slicesInNamespace(namespace) {
    return call(() => this._native.slicesInNamespace(namespace))
  }
  namespaces() {
    return this._native.namespaces()
  }
  endpoint(namespace, name) {
    return call(() => this._native.endpoint(namespace, name))
  }
  endpoints() {
    return this._native.endpoints()
  }
  identityLabels(id) {
    return call(() => this._native.identityLabels(id)) ?? null
  }
  identityByKey(key) {
    return call(() => this._native.identityByKey(key)) ?? null
  }
  identities() {
    return this._native.identities()
  }
  lookupIp(ip) {
    return call(() => this._native.lookupIp(ip))
  }
  identityOfIp(ip) {
    return call(() => this._native.identityOfIp(ip)) ?? null
  }
  counts() {
    return this._native.counts()
  }
  endpointCount() {
    return this._native.endpointCount()
  }
  sliceCount() {
    return this._native.sliceCount()
  }
  identityCount() {
    return this._native.identityCount()
  }
  namespaceCount() {
    return this._native.namespaceCount()
  }
  ipCount() {
    return this._native.ipCount()
  }
  fragmentation(namespace) {
    return call(() => this._native.fragmentation(namespace ?? null))
  }
}

/** Loads the latest snapshot its engine or consumer published. */
class SnapshotReader {
  constructor(nativeReader) {
    this._native = nativeReader
  }
  load() {
    return new Snapshot(this._native.load())
  }
  identityOfIp(ip) {
    return call(() => this._native.identityOfIp(ip)) ?? null
  }
  lookupIp(ip) {
    return call(() => this._native.lookupIp(ip))
  }
  get version() {
    return this._native.version
  }
}

/** The node agent's view of CiliumEndpointSlices (DESIGN §7). */
class Consumer {
  constructor(options) {
    const max = options?.maxPerSlice
    const release = options?.sharedIpRelease
    this._native = call(() => new native.NativeConsumer(max ?? null, release ?? null))
  }
  apply(event) {
    // Through the JSON path (faster than walking the object through napi),
    // so an unparseable event is counted as rejected like any other.
    return call(() => this._native.applyJson(Buffer.from(stringifyEvent(event))))
  }
  applyJson(buffer) {
    return call(() => this._native.applyJson(toBuffer(buffer)))
  }
  applyJsonLines(buffer) {
    const r = call(() => this._native.applyJsonLines(toBuffer(buffer)))
    mapRejected(r.rejected)
    return r
  }
  publish() {
    return new Snapshot(this._native.publish())
  }
  snapshotReader() {
    return new SnapshotReader(this._native.snapshotReader())
  }
  counters() {
    return this._native.counters()
  }
  drainEvents() {
    return this._native.drainEvents()
  }
  setNow(nowMs) {
    return call(() => this._native.setNow(nowMs))
  }
  endpoint(namespace, name) {
    return call(() => this._native.endpoint(namespace, name))
  }
  copies(namespace, name) {
    return call(() => this._native.copies(namespace, name))
  }
  lookupIp(ip) {
    return call(() => this._native.lookupIp(ip))
  }
}

function stringifyEvent(ev) {
  try {
    return JSON.stringify(ev) ?? 'undefined'
  } catch {
    return 'unserializable' // rejected as malformed_input, like any bad event
  }
}

/** The object without its undefined fields (JSON has no undefined). */
function definedFields(o) {
  const out = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out
}

function toBuffer(b) {
  if (typeof b === 'string') return Buffer.from(b)
  if (b instanceof Uint8Array && !Buffer.isBuffer(b)) return Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  return b
}

/** Network-policy verdicts over Namespace and Pod objects (DESIGN §13). */
class PolicyCluster {
  constructor(namespaces, pods, config) {
    this._native = call(() => new native.NativePolicyCluster(namespaces, pods, config ?? null))
  }
  upsertPolicy(policy, options) {
    return call(() => this._native.upsertPolicy(policy, options?.audit ?? false))
  }
  removePolicy(key) {
    return call(() => this._native.removePolicy(key))
  }
  identityOf(namespace, name) {
    return call(() => this._native.identityOf(namespace, name)) ?? null
  }
  probe(from, to, port, protocol) {
    // The core checks the probe (wire rules); an absent argument is absent.
    return call(() => this._native.probe(definedFields({ from, to, port, protocol })))
  }
  answerProbes(buffer) {
    return call(() => this._native.answerProbes(toBuffer(buffer)))
  }
  matrix(port, protocol) {
    return call(() => this._native.matrix(definedFields({ port, protocol })))
  }
}

/** Every stable error code: `[{code, number, family}]`. */
function errorCodes() {
  return native.errorCodes()
}

module.exports = {
  Config,
  Engine,
  Snapshot,
  SnapshotReader,
  Consumer,
  PolicyCluster,
  SliceplaneError,
  ParseError,
  ValidationError,
  ConfigError,
  WritePathError,
  PolicyError,
  errorCodes,
  coreVersion: native.coreVersion,
}
