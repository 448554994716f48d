import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import * as esm from 'sliceplane'
import { exampleWatch, cepEvent, namespaceEvent } from './helpers.mjs'

const require = createRequire(import.meta.url)
const cjs = require('sliceplane')
const { Config, Engine, SliceplaneError, ParseError, ValidationError, ConfigError, WritePathError } = esm

const podsConfig = () => Config.fromObject({ source: 'pods', seed: 1 })

/** Applies the example stream, syncs and flushes everything due. */
function synced() {
  const e = new Engine(podsConfig())
  assert.deepEqual(e.applyJsonLines(exampleWatch(), 1), [])
  e.initialSyncDone(2)
  return e
}

test('CommonJS require and ESM import give the same classes', () => {
  assert.equal(cjs.Engine, esm.Engine)
  assert.equal(cjs.Config, esm.Config)
  assert.equal(typeof esm.default.Engine, 'function')
  assert.equal(typeof esm.coreVersion(), 'string')
})

test('Config: defaults, YAML, JSON, objects, round trip', () => {
  const d = new Config().toObject()
  assert.equal(typeof d.seed, 'number')
  assert.deepEqual(Config.defaults().toObject(), d)
  assert.deepEqual(Config.fromYaml('').toObject(), d)
  assert.equal(Config.fromYaml('seed: 5\nsource: pods\n').toObject().seed, 5)
  assert.equal(Config.fromJson('{"seed": 6}').toObject().seed, 6)
  const c = Config.fromObject({ ...d, seed: 9 })
  assert.equal(c.toObject().seed, 9)
  assert.deepEqual(Config.fromJson(c.toJson()).toObject(), c.toObject())
})

test('Config: bad input is a ConfigError', () => {
  for (const f of [
    () => Config.fromObject({ nope: 1 }),
    () => Config.fromObject({ seed: 'x' }),
    () => Config.fromYaml('seed: [1'),
    () => Config.fromJson('{'),
    () => Config.fromObject({ slicing: { maxEndpointsPerSlice: 0 } }),
  ]) {
    assert.throws(f, (e) => e instanceof ConfigError && e instanceof SliceplaneError && e.code === 'invalid_config' && e.number === 301)
  }
  const e = (() => { try { Config.fromObject({ slicing: { maxEndpointsPerSlice: 0 } }) } catch (e) { return e } })()
  assert.match(e.field, /slicing/)
})

test('Engine: apply, flush, report, queries', () => {
  const e = new Engine(podsConfig())
  assert.equal(e.synced, false)
  const lines = exampleWatch().toString().trim().split('\n')
  e.applyJson(Buffer.from(lines[0]), 1)
  e.apply(JSON.parse(lines[1]), 1)
  assert.deepEqual(e.applyMany(lines.slice(2, 10).map((l) => JSON.parse(l)), 1), [])
  assert.deepEqual(e.applyJsonLines(lines.slice(10).join('\n') + '\n\n', 1), [])
  e.initialSyncDone(2)
  assert.equal(e.synced, true)
  const plan = e.flush(1_000_000)
  assert.ok(plan.length > 0)
  for (const w of plan) {
    assert.equal(typeof w.id, 'number')
    assert.ok(['create', 'update', 'delete'].includes(w.op))
    assert.equal(w.group, 'cilium.io')
    assert.equal(w.object.kind, w.kind)
    assert.equal(w.object.metadata.name, w.name)
    assert.ok(w.plural === 'ciliumidentities' || w.plural === 'ciliumendpointslices')
    assert.equal(w.version, w.kind === 'CiliumIdentity' ? 'v2' : 'v2alpha1')
  }
  assert.equal(e.inFlight(), plan.length)
  plan.forEach((w, i) => {
    if (i % 5 === 0) e.report(w.id, { outcome: 'success', resourceVersion: `${i}`, uid: `u${i}` }, 3)
    else e.reportSuccess(w.id, `${i}`, `u${i}`, 3)
  })
  assert.equal(e.inFlight(), 0)
  assert.deepEqual(e.flush(2_000_000), [])
  const stats = e.stats()
  assert.equal(stats.endpoints, 40)
  assert.equal(stats.inFlight, 0)
  assert.equal(e.desiredSlices().length, stats.slices)
  assert.ok(e.desiredIdentities().length > 0)
  const c = e.counters()
  assert.equal(c.eventsApplied, lines.length)
  assert.equal(c.writesSucceeded, plan.length)
  const events = e.drainEvents()
  assert.ok(events.length > 0 && typeof events[0].kind === 'string')
  assert.deepEqual(e.drainEvents(), [])
  assert.equal(e.nextDue(), null)
  const pod = JSON.parse(lines.at(-1)).object
  const ep = e.endpoint(pod.metadata.namespace, pod.metadata.name)
  assert.ok(ep && typeof ep.slice === 'string' && typeof ep.identity === 'number')
  assert.ok(e.identityLabels(ep.identity).some((l) => l.startsWith('k8s:')))
  assert.equal(e.endpoint('nope', 'nope'), null)
  assert.equal(e.identityLabels(4_000_000), null)
})

test('Engine: the other outcomes are accepted and the plan follows the flow', () => {
  const e = synced()
  const plan = e.flush(1_000_000)
  assert.ok(plan.length >= 4)
  e.reportConflict(plan[0].id, 3)
  e.reportNotFound(plan[1].id, 3)
  e.reportAlreadyExists(plan[2].id, 3)
  e.reportError(plan[3].id, 'boom', 3)
  e.report(plan[4].id, { outcome: 'error', message: 'x' }, 3)
  assert.equal(e.inFlight(), plan.length - 5)
  assert.equal(typeof e.nextDue(), 'number')
})

test('Engine: flushAtMost bounds slice writes only; flush is the core encoding', () => {
  const e = synced()
  // No idle writer for slices: identities only; the slices stay dirty.
  const ids = e.flushAtMost(1_000_000, 0)
  assert.ok(ids.length > 0)
  assert.ok(ids.every((w) => w.kind === 'CiliumIdentity'), JSON.stringify(ids.map((w) => w.kind)))
  const one = e.flushAtMost(1_000_000, 1)
  assert.deepEqual(one.map((w) => [w.op, w.kind]), [['create', 'CiliumEndpointSlice']])
  const rest = e.flush(1_000_000)
  assert.ok(rest.length > 0 && rest.every((w) => w.kind === 'CiliumEndpointSlice'))
  for (const w of [...ids, ...one, ...rest]) {
    assert.deepEqual(Object.keys(w), ['id', 'op', 'group', 'version', 'plural', 'kind', 'name', 'object', 'preconditions'])
    assert.equal(typeof w.id, 'number')
  }
  const more = e.flushAtMost(1_000_000, 3)
  assert.ok(more.length <= 3 && more.every((w) => w.kind === 'CiliumEndpointSlice'))
  for (const bad of [-1, NaN, Infinity]) {
    assert.throws(() => e.flushAtMost(1_000_000, bad), (err) => err instanceof ValidationError && err.code === 'invalid_value' && err.field === 'maxSliceWrites')
  }
})

test('Engine: nextDue with a sync delay', () => {
  const e = new Engine(Config.fromObject({ source: 'pods', seed: 1, write: { syncDelayMs: 500 } }))
  e.applyJsonLines(exampleWatch(), 1)
  e.initialSyncDone(10)
  const due = e.nextDue()
  assert.equal(typeof due, 'number')
})

test('bad events: code, field, nothing changed', () => {
  const e = synced()
  const before = e.stats()
  const badIp = { type: 'ADDED', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'core-0' }, spec: { nodeName: 'node-00000' }, status: { phase: 'Running', podIPs: [{ ip: 'not-an-ip' }] } } }
  const cases = [
    [() => e.apply(badIp, 5), ValidationError, 'invalid_ip', 'status.podIPs[0].ip'],
    [() => e.apply({ type: 'BOOM', object: {} }, 5), ParseError, 'unknown_event_type', 'type'],
    [() => e.apply({ apiVersion: 'v9', kind: 'Gadget', metadata: { name: 'g' } }, 5), ParseError, 'unknown_kind', null],
    [() => e.applyJson(Buffer.from('{not json'), 5), ParseError, 'malformed_input', null],
    [() => e.apply('a string', 5), ParseError, 'malformed_input', null],
    [() => e.apply({ type: 'ADDED' }, 5), ValidationError, 'missing_field', 'object'],
    [() => e.apply(namespaceEvent('ok'), -1), ValidationError, 'invalid_value', 'nowMs'],
    [() => e.apply(namespaceEvent('ok'), NaN), ValidationError, 'invalid_value', 'nowMs'],
    [() => e.flush(Infinity), ValidationError, 'invalid_value', 'nowMs'],
    [() => e.report(987654, { outcome: 'success' }, 5), WritePathError, 'unknown_op', null],
    [() => e.report(-1, { outcome: 'success' }, 5), WritePathError, 'unknown_op', 'opId'],
    [() => e.reportConflict(987654, 5), WritePathError, 'unknown_op', null],
    [() => e.report(1, { outcome: 'maybe' }, 5), ParseError, 'malformed_input', 'outcome'],
  ]
  for (const [f, cls, code, field] of cases) {
    assert.throws(f, (err) => {
      assert.ok(err instanceof cls, `${code}: got ${err.constructor.name}: ${err.message}`)
      assert.ok(err instanceof SliceplaneError && err instanceof Error)
      assert.equal(err.code, code)
      assert.equal(typeof err.number, 'number')
      if (field !== null) assert.equal(err.field, field)
      assert.equal(typeof err.object, 'string')
      return true
    })
  }
  assert.deepEqual(e.stats(), before)
})

test('wrong argument types throw, never crash', () => {
  const e = new Engine()
  for (const f of [
    () => e.apply({}, 'soon'),
    () => e.applyJson(42, 1),
    () => e.applyMany('nope', 1),
    () => e.applyJsonLines(null, 1),
    () => e.reportError(1, 5, 1),
    () => e.endpoint(1, 2),
    () => new Engine(42),
  ]) {
    assert.throws(f, Error)
  }
  assert.equal(e.stats().endpoints, 0)
})

test('bulk calls return rejected entries and apply the rest', () => {
  const e = new Engine(Config.fromObject({ source: 'ciliumendpoints' }))
  const events = [cepEvent(0), { type: 'NOPE', object: {} }, cepEvent(1), 'garbage', cepEvent(2)]
  const rej = e.applyMany(events, 1)
  assert.deepEqual(rej.map((r) => [r.index, r.line, r.code, r.number]), [[1, 2, 'unknown_event_type', 103], [3, 4, 'malformed_input', 101]])
  assert.ok(rej.every((r) => r.error instanceof ParseError && r.error.code === r.code))
  assert.equal(e.stats().endpoints, 3)
  // A stream: index counts events (the blank line is none), line is 1-based.
  const lines = [JSON.stringify(cepEvent(3)), '{broken', '', JSON.stringify(cepEvent(4)), '[]'].join('\n')
  const rej2 = e.applyJsonLines(Buffer.from(lines), 1)
  assert.deepEqual(rej2.map((r) => [r.index, r.line, r.error.code]), [[1, 2, 'malformed_input'], [3, 5, 'malformed_input']])
  assert.equal(e.stats().endpoints, 5)
  // Strings and Uint8Arrays are accepted as bytes too.
  assert.deepEqual(e.applyJsonLines(JSON.stringify(cepEvent(5)), 1), [])
  assert.deepEqual(e.applyJsonLines(new TextEncoder().encode(JSON.stringify(cepEvent(6))), 1), [])
  assert.equal(e.stats().endpoints, 7)
})

test('fuzzed input never crashes the process', () => {
  const e = new Engine(Config.fromObject({ source: 'ciliumendpoints' }))
  const seeds = [cepEvent(1), namespaceEvent('a'), JSON.parse(exampleWatch().toString().split('\n')[20])]
  let rnd = 12345
  const rand = (n) => { rnd = (rnd * 1103515245 + 12345) & 0x7fffffff; return rnd % n }
  for (let i = 0; i < 2000; i++) {
    const s = JSON.stringify(seeds[i % seeds.length])
    const chars = s.split('')
    for (let k = 0; k < 3; k++) chars[rand(chars.length)] = String.fromCharCode(32 + rand(95))
    try { e.applyJson(Buffer.from(chars.join('')), i) } catch (err) { assert.ok(err instanceof SliceplaneError, err.message) }
  }
  e.initialSyncDone(3000)
  e.flush(10_000)
})
