// Engine observability and snapshots: metrics(), health(), resync(),
// observe*Seconds(), publish(), snapshotReader().
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { Config, Engine, ValidationError } from 'sliceplane'
import { exampleWatch } from './helpers.mjs'

// parse-prometheus-text-format (pinned in devDependencies) ships CommonJS.
const require = createRequire(import.meta.url)
const parsePrometheusTextFormat = require('parse-prometheus-text-format')

function synced() {
  const e = new Engine(Config.fromObject({ source: 'pods', seed: 1 }))
  assert.deepEqual(e.applyJsonLines(exampleWatch(), 1), [])
  e.initialSyncDone(2)
  return e
}

// The exposition format, line by line: HELP, TYPE, samples
// `name{label="value",...} number`; each family's TYPE before its samples.
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABELS = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")*,?)?\\}`
const VALUE = '(?:[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|[-+]?Inf|NaN)'
const SAMPLE = new RegExp(`^(${NAME})(${LABELS})? ${VALUE}(?: -?\\d+)?$`)
const HELP = new RegExp(`^# HELP (${NAME}) .*$`)
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)

/** A strict line check; returns {family: type}. */
function checkLines(text) {
  assert.ok(text.endsWith('\n'))
  const types = {}
  for (const line of text.slice(0, -1).split('\n')) {
    let m
    if ((m = TYPE.exec(line))) {
      assert.equal(types[m[1]], undefined, `TYPE ${m[1]} once`)
      types[m[1]] = m[2]
    } else if (HELP.test(line)) {
      // ok
    } else if ((m = SAMPLE.exec(line))) {
      const family = m[1].replace(/_(bucket|sum|count)$/, '')
      assert.ok(types[m[1]] || types[family], `sample ${m[1]} after its TYPE`)
    } else {
      assert.fail(`not an exposition line: ${JSON.stringify(line)}`)
    }
  }
  return types
}

test('metrics(): Prometheus text, parsed by parse-prometheus-text-format and a strict line check', () => {
  const e = synced()
  const plan = e.flush(1_000_000)
  for (const w of plan) e.reportSuccess(w.id, '1', 'u', 3)
  e.observeApplySeconds(0.002)
  e.observeApplySeconds(0.5)
  e.observePublishSeconds(0.0001)
  e.publish()
  const text = e.metrics()
  assert.equal(typeof text, 'string')
  const types = checkLines(text)
  const families = parsePrometheusTextFormat(text)
  assert.ok(families.length > 5)
  const byName = Object.fromEntries(families.map((f) => [f.name, f]))
  for (const f of families) assert.equal(f.type, types[f.name].toUpperCase(), f.name)
  // Cilium-compatible names (DESIGN §8).
  for (const name of [
    'cilium_operator_number_of_ceps_per_ces',
    'cilium_operator_number_of_cep_changes_per_ces',
    'cilium_operator_ces_sync_total',
    'cilium_operator_ces_queueing_delay_seconds',
  ]) {
    assert.ok(byName[name], `${name} in ${Object.keys(byName).join(' ')}`)
  }
  assert.equal(byName.cilium_operator_number_of_ceps_per_ces.type, 'HISTOGRAM')
  const sync = byName.cilium_operator_ces_sync_total
  const ok = sync.metrics.filter((m) => m.labels?.outcome === 'success').reduce((a, m) => a + Number(m.value), 0)
  const sliceWrites = plan.filter((w) => w.kind === 'CiliumEndpointSlice').length
  assert.equal(ok, sliceWrites)
  // The observed durations show up in a histogram with a count of 2 (apply) and 1 (publish).
  const hist = families.filter((f) => f.type === 'HISTOGRAM')
  const counts = hist.map((f) => Number(f.metrics[0]?.count))
  assert.ok(counts.includes(2), `an apply histogram counts 2: ${hist.map((f) => f.name + '=' + f.metrics[0]?.count)}`)
  assert.ok(counts.includes(1))
})

test('health(), resync(), observe*Seconds() argument checks', () => {
  const e = synced()
  assert.deepEqual(e.health(), { state: 'healthy' })
  const plan = e.flush(1_000_000)
  for (const w of plan) e.reportSuccess(w.id, '1', 'u', 3)
  assert.deepEqual(e.flush(2_000_000), [])
  // Resync marks every slice for comparison; equal slices cost no write.
  e.resync(3_000_000)
  assert.deepEqual(e.flush(4_000_000), [])
  assert.equal(e.inFlight(), 0)
  assert.deepEqual(e.health(), { state: 'healthy' })
  for (const f of [
    () => e.resync(-1),
    () => e.resync(NaN),
    () => e.observeApplySeconds(-1),
    () => e.observeApplySeconds(Infinity),
    () => e.observePublishSeconds(NaN),
  ]) {
    assert.throws(f, (err) => err instanceof ValidationError && err.code === 'invalid_value')
  }
})

test('health(): degraded after failures past the threshold, with a reason', () => {
  const e = synced()
  let now = 1_000_000
  for (let i = 0; i < 50 && e.health().state === 'healthy'; i++) {
    now += 1_000_000
    for (const w of e.flush(now)) e.reportError(w.id, 'apiserver down', now)
  }
  const h = e.health()
  assert.equal(h.state, 'degraded')
  assert.equal(typeof h.reason, 'string')
  assert.ok(h.reason.length > 0)
  assert.match(e.metrics(), /degraded/)
})

test('Engine: publish() and snapshotReader() agree with the engine queries', () => {
  const e = synced()
  const r = e.snapshotReader()
  const s = e.publish()
  assert.equal(s.version, 1)
  assert.equal(r.version, 1)
  assert.equal(s.endpointCount(), e.stats().endpoints)
  assert.equal(s.sliceCount(), e.stats().slices)
  for (const ep of s.endpoints()) {
    assert.deepEqual(e.endpoint(ep.namespace, ep.name), { slice: ep.slice, identity: ep.identity })
    assert.deepEqual(s.identityLabels(ep.identity), e.identityLabels(ep.identity))
    for (const ip of ep.ips) assert.equal(r.identityOfIp(ip), ep.identity)
  }
  assert.equal(e.publish().version, 2)
  assert.equal(r.load().version, 2)
})
