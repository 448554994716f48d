// Typed usage of the public API, checked by `tsc --noEmit -p test` (not run).
import {
  Config,
  Consumer,
  Engine,
  PolicyCluster,
  Snapshot,
  SnapshotReader,
  SliceplaneError,
  ValidationError,
  errorCodes,
  type ConsumerCounters,
  type EndpointChange,
  type EndpointView,
  type Fragmentation,
  type Health,
  type PlannedWrite,
  type Rejected,
  type SliceView,
  type SnapshotCounts,
  type Stats,
  type Verdict,
} from 'sliceplane'

const config: Config = Config.fromYaml('source: pods\nseed: 1\n')
const fromObj: Config = Config.fromObject({ seed: 7, source: 'ciliumendpoints' })
const defaults: Record<string, unknown> = Config.defaults().toObject()
const json: string = fromObj.toJson()

const engine = new Engine(config)
const other = new Engine({ seed: 2 })
engine.apply({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } } }, 1)
engine.applyJson(Buffer.from('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b"}}'), 2)
const rejected: Rejected[] = engine.applyMany([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'c' } }], 3)
const rejected2: Rejected[] = other.applyJsonLines('', 3)
for (const r of [...rejected, ...rejected2]) {
  const idx: number = r.index
  const code: string = r.error.code
  void idx, code
}
engine.initialSyncDone(4)
const plan: PlannedWrite[] = [...engine.flushAtMost(5, 2), ...engine.flush(5)]
for (const w of plan) {
  const target: string = `${w.group}/${w.version}/${w.plural}/${w.name}`
  if (w.op === 'delete') engine.reportNotFound(w.id, 6)
  else engine.reportSuccess(w.id, '1', 'uid', 6)
  void target
}
engine.report(1, { outcome: 'error', message: 'boom' }, 7)
const stats: Stats = engine.stats()
const due: number | null = engine.nextDue()
const slices = engine.desiredSlices()
const ids = engine.desiredIdentities()
const events = engine.drainEvents()
const ep = engine.endpoint('a', 'p')
try {
  engine.apply({ nope: true }, 1)
} catch (e) {
  if (e instanceof ValidationError) {
    const f: string = e.field
    const n: number = e.number
    void f, n
  } else if (e instanceof SliceplaneError) {
    const c: string = e.code
    void c
  }
}
const pc = new PolicyCluster([], [])
const v: Verdict = pc.probe('a/b', '10.0.0.1', 80, 'TCP')
const m = pc.matrix('http')
const codes = errorCodes()
void defaults, json, stats, due, slices, ids, events, ep, v, m, codes

// Snapshots, readers, observability.
const snap: Snapshot = engine.publish()
const reader: SnapshotReader = engine.snapshotReader()
const version: number = snap.version + reader.version
const sv: SliceView | null = snap.slice('ces-1')
const svs: SliceView[] = snap.slices()
const nsSlices: string[] = snap.slicesInNamespace('a')
const nss: Array<{ name: string; slices: number; endpoints: number }> = snap.namespaces()
const ev: EndpointView | null = snap.endpoint('a', 'p')
const evs: EndpointView[] = snap.endpoints()
const labels: string[] | null = snap.identityLabels(1000)
const byKey: number | null = snap.identityByKey('k8s:app=a;')
const idents: number[] = snap.identities()
const hit: EndpointView | null = snap.lookupIp('10.0.0.1')
if (hit) {
  const parts: [string, string, number, string | null, number, string, string[]] = [
    hit.namespace, hit.name, hit.identity, hit.nodeIp, hit.encryptionKey, hit.slice, hit.ips,
  ]
  void parts
}
const idOfIp: number | null = snap.identityOfIp('10.0.0.1')
const counts: SnapshotCounts = snap.counts()
const nCounts: number = snap.endpointCount() + snap.sliceCount() + snap.identityCount() + snap.namespaceCount() + snap.ipCount()
const frag: Fragmentation = snap.fragmentation()
const nsFrag: number | null = snap.fragmentation('a').ratio
const latest: Snapshot = reader.load()
const rHit: EndpointView | null = reader.lookupIp('10.0.0.1')
const rId: number | null = reader.identityOfIp('10.0.0.1')
const metricsText: string = engine.metrics()
const health: Health = engine.health()
if (health.state === 'degraded') {
  const reason: string = health.reason
  void reason
}
engine.resync(8)
engine.observeApplySeconds(0.01)
engine.observePublishSeconds(0.001)

// The consumer (agent side).
const consumer = new Consumer({ maxPerSlice: 100 })
const dflt = new Consumer()
const changes: EndpointChange[] = consumer.apply({ type: 'ADDED', object: { apiVersion: 'cilium.io/v2alpha1', kind: 'CiliumEndpointSlice', metadata: { name: 's' } } })
for (const c of changes) {
  const at: number | null = c.index
  void at
  if (c.op === 'upsert') {
    const was: EndpointView | null = c.old
    const now: EndpointView = c.new
    void was, now
  } else {
    const gone: EndpointView = c.old
    void gone
  }
}
const changes2: EndpointChange[] = consumer.applyJson(Buffer.from('{}'))
const bulk: { changes: EndpointChange[]; rejected: Rejected[] } = dflt.applyJsonLines('')
const cSnap: Snapshot = consumer.publish()
const cReader: SnapshotReader = consumer.snapshotReader()
const cCounters: ConsumerCounters = consumer.counters()
const cEvents = consumer.drainEvents()
consumer.setNow(9)
const cEp: EndpointView | null = consumer.endpoint('a', 'p')
const cCopies: { copies: string[]; current: string } | null = consumer.copies('a', 'p')
const cHit: EndpointView | null = consumer.lookupIp('10.0.0.1')
void version, sv, svs, nsSlices, nss, ev, evs, labels, byKey, idents, idOfIp, counts, nCounts, frag, nsFrag
void latest, rHit, rId, metricsText, changes2, bulk, cSnap, cReader, cCounters, cEvents, cEp, cCopies, cHit
