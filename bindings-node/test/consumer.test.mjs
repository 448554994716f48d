// The Consumer (DESIGN §7), fed the engine's flushed slice writes as
// CiliumEndpointSlice watch events.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Config, Consumer, Engine, ParseError, Snapshot, SnapshotReader, ValidationError, SliceplaneError } from 'sliceplane'
import { cepEvent, exampleWatch } from './helpers.mjs'

const TYPE = { create: 'ADDED', update: 'MODIFIED', delete: 'DELETED' }

/**
 * Turns flushed writes into CES watch events, as the API server would send
 * them: a DELETED event carries the slice's last state. Reports success.
 */
function writesToEvents(engine, writes, last, now) {
  const events = []
  for (const w of writes) {
    if (w.kind === 'CiliumEndpointSlice') {
      const object = w.op === 'delete' ? last.get(w.name) : w.object
      assert.ok(object, `a delete of ${w.name} follows its create`)
      if (w.op === 'delete') last.delete(w.name)
      else last.set(w.name, w.object)
      events.push({ type: TYPE[w.op], object })
    }
    engine.reportSuccess(w.id, String(now), `uid-${w.name}`, now)
  }
  return events
}

/** Every IP of the engine's snapshot resolves the same in the consumer, and no more. */
function assertAgree(engineSnap, consumer, consumerSnap) {
  let n = 0
  for (const ep of engineSnap.endpoints()) {
    for (const ip of ep.ips) {
      n++
      const want = engineSnap.lookupIp(ip)
      assert.deepEqual(consumer.lookupIp(ip), want, ip)
      assert.deepEqual(consumerSnap.lookupIp(ip), want, ip)
      assert.equal(consumerSnap.identityOfIp(ip), want.identity)
    }
  }
  assert.equal(consumerSnap.ipCount(), n)
  assert.equal(consumerSnap.endpointCount(), engineSnap.endpointCount())
  assert.deepEqual(consumerSnap.slices().map((s) => s.name).sort(), engineSnap.slices().map((s) => s.name).sort())
}

test('Consumer: fed the engine writes, lookupIp agrees with the engine snapshot (with churn)', () => {
  const e = new Engine(Config.fromObject({ source: 'ciliumendpoints', seed: 1 }))
  assert.deepEqual(e.applyMany(Array.from({ length: 300 }, (_, i) => cepEvent(i)), 1), [])
  e.initialSyncDone(2)
  const c = new Consumer()
  const reader = c.snapshotReader()
  assert.ok(reader instanceof SnapshotReader)
  const last = new Map()
  let now = 10
  const round = () => {
    now += 1_000_000
    const events = writesToEvents(e, e.flush(now), last, now)
    assert.ok(events.length > 0)
    let changes = 0
    for (const ev of events) changes += c.apply(ev).length
    const s = c.publish()
    assert.ok(s instanceof Snapshot)
    assertAgree(e.publish(), c, s)
    assert.equal(reader.version, s.version)
    return changes
  }
  assert.equal(round(), 300)
  // Churn: deletes, adds, identity changes.
  for (let i = 0; i < 300; i += 4) e.apply(cepEvent(i, 'DELETED'), now)
  for (let i = 300; i < 340; i++) e.apply(cepEvent(i), now)
  const moved = cepEvent(5, 'MODIFIED')
  moved.object.status.identity.id = 4242
  e.apply(moved, now)
  round()
  assert.equal(c.lookupIp(cepEvent(5).object.status.networking.addressing[0].ipv4).identity, 4242)
  assert.equal(c.lookupIp(cepEvent(0).object.status.networking.addressing[0].ipv4), null)
  assert.equal(c.endpoint('ns-0', 'pod-0'), null)
  assert.equal(c.endpoint('ns-1', 'pod-1').identity, 1001)
  const k = c.counters()
  assert.equal(k.endpoints, 300 - 75 + 40)
  assert.equal(k.ipCacheSize, k.endpoints)
  assert.equal(k.eventsRejected, 0)
  assert.ok(k.upserts >= 340 && k.deletes >= 75)
  assert.equal(k.slices, e.stats().slices)
})

test('Consumer: pods-mode engine (example watch) agrees too; bulk applyJsonLines', () => {
  const e = new Engine(Config.fromObject({ source: 'pods', seed: 1 }))
  assert.deepEqual(e.applyJsonLines(exampleWatch(), 1), [])
  e.initialSyncDone(2)
  const events = writesToEvents(e, e.flush(1_000_000), new Map(), 3)
  const c = new Consumer({ maxPerSlice: 100 })
  const lines = events.map((ev) => JSON.stringify(ev))
  lines.splice(1, 0, '', '{"type":"ADDED","object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}}', '{broken')
  const r = c.applyJsonLines(Buffer.from(lines.join('\n')))
  assert.equal(r.changes.length, 40)
  assert.ok(r.changes.every((ch) => ch.op === 'upsert' && ch.old === null && ch.new.ips.length > 0))
  // index counts events (the blank line is none); line is 1-based.
  assert.deepEqual(r.rejected.map((x) => [x.index, x.line, x.code]), [[1, 3, 'unknown_kind'], [2, 4, 'malformed_input']])
  // Each change carries its event's index: in order, never a rejected one.
  const at = r.changes.map((ch) => ch.index)
  assert.equal(at[0], 0)
  assert.ok(at.every((i, k) => Number.isInteger(i) && i !== 1 && i !== 2 && (k === 0 || i >= at[k - 1])))
  assert.ok(r.rejected[0].error instanceof ParseError && r.rejected[0].error.code === 'unknown_kind')
  assert.ok(r.rejected[1].error instanceof ParseError && r.rejected[1].error.code === 'malformed_input')
  assertAgree(e.publish(), c, c.publish())
  assert.equal(c.counters().eventsRejected, 2)
})

const ces = (name, ns, endpoints, type = 'ADDED') => ({
  type,
  object: {
    apiVersion: 'cilium.io/v2alpha1',
    kind: 'CiliumEndpointSlice',
    metadata: { name },
    namespace: ns,
    endpoints: endpoints.map(([n, id, ip]) => ({ name: n, id, networking: { addressing: [{ ipv4: ip }], node: '192.168.1.1' } })),
  },
})

test('Consumer: upsert/delete changes with old and new, moves, copies, events, setNow', () => {
  const c = new Consumer()
  c.setNow(1234)
  let ch = c.apply(ces('a', 'ns', [['p1', 7, '10.9.0.1'], ['p2', 8, '10.9.0.2']]))
  assert.deepEqual(ch.map((x) => [x.op, x.index, x.old, x.new.name]), [['upsert', null, null, 'p1'], ['upsert', null, null, 'p2']])
  assert.deepEqual(ch[0].new, {
    namespace: 'ns', name: 'p1', slice: 'a', identity: 7, ips: ['10.9.0.1'],
    nodeIp: '192.168.1.1', encryptionKey: 0, namedPorts: [], serviceAccount: null,
  })
  // Identity change of p1.
  ch = c.applyJson(Buffer.from(JSON.stringify(ces('a', 'ns', [['p1', 9, '10.9.0.1'], ['p2', 8, '10.9.0.2']], 'MODIFIED'))))
  assert.equal(ch.length, 1)
  assert.equal(ch[0].op, 'upsert')
  assert.equal(ch[0].old.identity, 7)
  assert.equal(ch[0].new.identity, 9)
  // p2 moves to slice b: present in both, then removed from a.
  c.apply(ces('b', 'ns', [['p2', 8, '10.9.0.2']]))
  assert.deepEqual(c.copies('ns', 'p2'), { copies: ['a', 'b'], current: 'b' })
  assert.equal(c.lookupIp('10.9.0.2').slice, 'b')
  ch = c.apply(ces('a', 'ns', [['p1', 9, '10.9.0.1']], 'MODIFIED'))
  assert.deepEqual(ch, [], 'a delete from a non-current copy changes nothing')
  assert.deepEqual(c.copies('ns', 'p2'), { copies: ['b'], current: 'b' })
  assert.equal(c.copies('ns', 'nope'), null)
  // Deleting slice b deletes p2.
  ch = c.apply(ces('b', 'ns', [['p2', 8, '10.9.0.2']], 'DELETED'))
  assert.deepEqual(ch.map((x) => [x.op, x.old.name, x.new]), [['delete', 'p2', null]])
  assert.equal(c.lookupIp('10.9.0.2'), null)
  assert.equal(c.endpoint('ns', 'p1').identity, 9)
  const k = c.counters()
  assert.deepEqual(Object.keys(k).sort(), ['deletes', 'endpoints', 'entriesSkipped', 'eventsApplied', 'eventsRejected', 'ipCacheSize', 'slices', 'slicesSeen', 'staleDeletes', 'upserts'])
  assert.equal(k.eventsApplied, 5)
  assert.equal(k.staleDeletes, 1)
  assert.equal(k.endpoints, 1)
  assert.equal(k.slices, 1)
  // Events: a rejected event is recorded, stamped with setNow's time.
  c.setNow(5678)
  assert.throws(() => c.apply(cepEvent(1)), (e) => e instanceof ParseError)
  const evs = c.drainEvents()
  const rej = evs.find((x) => x.kind === 'event-rejected')
  assert.ok(rej && rej.time === 5678 && rej.category === 'input', JSON.stringify(evs))
  assert.deepEqual(c.drainEvents(), [])
})

test('Consumer: errors map to the right subclasses and change nothing', () => {
  const c = new Consumer()
  c.apply(ces('a', 'ns', [['p1', 7, '10.9.0.1']]))
  const before = c.publish().endpoints()
  const pod = { type: 'ADDED', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'ns' } } }
  const cases = [
    [() => c.apply(pod), ParseError, 'unknown_kind'],
    [() => c.apply(cepEvent(1)), ParseError, 'unknown_kind'],
    [() => c.apply({ type: 'BOOM', object: {} }), ParseError, 'unknown_event_type'],
    [() => c.applyJson(Buffer.from('{nope')), ParseError, 'malformed_input'],
    [() => c.applyJson('not json'), ParseError, 'malformed_input'],
    // A bad entry is skipped (the slice applies); a bad slice name rejects the event.
    [() => c.apply(ces('Bad_Slice', 'ns', [['p1', 7, '10.9.0.1']], 'MODIFIED')), ValidationError, 'invalid_name'],
    [() => c.lookupIp('bad'), ValidationError, 'invalid_ip'],
    [() => c.setNow(-5), ValidationError, 'invalid_value'],
    [() => c.setNow(NaN), ValidationError, 'invalid_value'],
  ]
  for (const [f, Cls, code] of cases) {
    assert.throws(f, (e) => e instanceof Cls && e instanceof SliceplaneError && e.code === code, code)
  }
  assert.deepEqual(c.publish().endpoints(), before)
  assert.equal(c.counters().eventsRejected, 6)
})

test('Consumer: sharedIpRelease handover (default) and cilium; a bad value is invalid_value', () => {
  for (const [release, owner] of [['handover', 'web-1'], ['cilium', null], [undefined, 'web-1']]) {
    const c = new Consumer({ sharedIpRelease: release })
    c.apply(ces('ces-a', 'shop', [['web-1', 1000, '10.1.0.2']]))
    c.apply(ces('ces-b', 'shop', [['web-2', 2000, '10.1.0.2']]))
    assert.equal(c.lookupIp('10.1.0.2').name, 'web-2')
    c.apply(ces('ces-b', 'shop', [], 'DELETED'))
    assert.equal(c.lookupIp('10.1.0.2')?.name ?? null, owner, String(release))
  }
  assert.throws(() => new Consumer({ sharedIpRelease: 'sometimes' }), (e) => e instanceof ValidationError && e.code === 'invalid_value')
})
