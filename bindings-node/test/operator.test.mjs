// Drives examples/node-operator.mjs with a fake API server (no cluster).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Operator, outcomeOf } from '../../examples/node-operator.mjs'
import { exampleWatch } from './helpers.mjs'

class FakeApi {
  constructor(events) {
    this.events = events
    this.store = new Map()
    this.rv = 0
    this.fail = new Map() // name -> HTTP code, once
    this.sent = []
  }
  async list(onEvent) {
    for (const ev of this.events) onEvent(ev)
  }
  watch(onEvent) {
    this.push = onEvent
    return () => { this.push = null }
  }
  async send(w) {
    this.sent.push(`${w.op} ${w.kind} ${w.name}`)
    const key = `${w.plural}/${w.name}`
    const code = this.fail.get(w.name)
    if (code) {
      this.fail.delete(w.name)
      throw Object.assign(new Error(`HTTP ${code}`), { code })
    }
    if (w.op === 'create' && this.store.has(key)) throw Object.assign(new Error('exists'), { code: 409 })
    if (w.op !== 'create' && !this.store.has(key)) throw Object.assign(new Error('not found'), { code: 404 })
    if (w.op === 'delete') { this.store.delete(key); return {} }
    const obj = structuredClone(w.object)
    obj.metadata.resourceVersion = String(++this.rv)
    obj.metadata.uid ??= `uid-${w.name}`
    this.store.set(key, obj)
    return obj
  }
}

test('operator converges on a fake API server', async () => {
  const events = exampleWatch().toString().trim().split('\n').map((l) => JSON.parse(l))
  const api = new FakeApi(events)
  let t = 1000
  const logs = []
  const op = new Operator(api, { now: () => t, log: (m) => logs.push(m) })
  await op.sync()
  t += 10_000
  const n = await op.flushOnce()
  assert.ok(n > 0)
  assert.equal(op.engine.inFlight(), 0)
  const slices = [...api.store.keys()].filter((k) => k.startsWith('ciliumendpointslices/')).length
  assert.equal(slices, op.engine.desiredSlices().length)
  // A pod goes away through the watch; a failed write is retried later.
  const gone = events.findLast((e) => e.object.kind === 'Pod').object
  const stop = api.watch(op.onEvent)
  api.push({ type: 'DELETED', object: gone })
  op.onEvent({ type: 'ADDED', object: { kind: 'Nope' } }) // logged, not thrown
  assert.ok(logs.some((l) => l.startsWith('rejected:')))
  t += 10_000
  const plan = op.engine.flush(t)
  assert.ok(plan.length > 0)
  for (const w of plan) op.engine.reportError(w.id, 'simulated outage', t)
  for (let i = 0; i < 20 && (op.engine.nextDue() !== null || op.engine.stats().dirtySlices > 0); i++) {
    t += 60_000
    await op.flushOnce()
  }
  stop()
  assert.equal(op.engine.stats().dirtySlices, 0)
  assert.equal(op.engine.endpoint(gone.metadata.namespace, gone.metadata.name), null)
  const stored = [...api.store.values()].filter((o) => o.kind === 'CiliumEndpointSlice')
  assert.ok(stored.every((s) => !s.endpoints?.some((e) => e.name === gone.metadata.name)))
})

test('HTTP codes map to outcomes', () => {
  assert.deepEqual(outcomeOf({ op: 'create' }, { code: 409 }), { outcome: 'alreadyExists' })
  assert.deepEqual(outcomeOf({ op: 'update' }, { code: 409 }), { outcome: 'conflict' })
  assert.deepEqual(outcomeOf({ op: 'delete' }, { code: 404 }), { outcome: 'notFound' })
  assert.equal(outcomeOf({ op: 'update' }, { code: 500, message: 'x' }).outcome, 'error')
})
