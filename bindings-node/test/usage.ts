// Typed usage of the public API, checked by `tsc --noEmit -p test` (not run).
import {
  Config,
  Engine,
  PolicyCluster,
  SliceplaneError,
  ValidationError,
  errorCodes,
  type PlannedWrite,
  type Rejected,
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
const plan: PlannedWrite[] = engine.flush(5)
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
