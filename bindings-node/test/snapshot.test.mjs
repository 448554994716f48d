// Snapshots and readers (DESIGN §6): queries, immutability, and readers
// loading while the engine keeps publishing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { Config, Engine, Snapshot, SnapshotReader, ValidationError } from 'sliceplane'
import { cepEvent } from './helpers.mjs'

const cepConfig = () => Config.fromObject({ source: 'ciliumendpoints', seed: 1 })

function engineWith(n) {
  const e = new Engine(cepConfig())
  assert.deepEqual(e.applyMany(Array.from({ length: n }, (_, i) => cepEvent(i)), 1), [])
  e.initialSyncDone(2)
  return e
}

const ipOf = (i) => cepEvent(i).object.status.networking.addressing[0].ipv4

test('Snapshot: version, counts, slices, endpoints, identities, IP cache', () => {
  const e = engineWith(100)
  const before = e.snapshotReader()
  assert.ok(before instanceof SnapshotReader)
  assert.equal(before.version, 0)
  assert.equal(before.load().endpointCount(), 0)
  const s = e.publish()
  assert.ok(s instanceof Snapshot)
  assert.equal(s.version, 1)
  assert.equal(before.version, 1)
  assert.deepEqual(s.counts(), {
    endpoints: 100,
    slices: s.sliceCount(),
    identities: 50,
    namespaces: 10,
    ips: 100,
  })
  assert.equal(s.endpointCount(), 100)
  assert.equal(s.identityCount(), 50)
  assert.equal(s.namespaceCount(), 10)
  assert.equal(s.ipCount(), 100)
  assert.equal(s.endpoints().length, 100)
  assert.equal(s.identities().length, 50)
  assert.equal(s.namespaces().length, 10)
  assert.equal(s.namespaces().reduce((a, n) => a + n.endpoints, 0), 100)

  // Slices agree with the engine's desired slices.
  const slices = s.slices()
  assert.equal(slices.length, s.sliceCount())
  assert.deepEqual(slices.map((x) => x.name).sort(), e.desiredSlices().map((x) => x.metadata.name).sort())
  for (const sl of slices) {
    assert.deepEqual(s.slice(sl.name), sl)
    assert.ok(s.slicesInNamespace(sl.namespace).includes(sl.name))
    for (const name of sl.endpoints) assert.equal(s.endpoint(sl.namespace, name).slice, sl.name)
  }
  assert.equal(s.slice('nope'), null)
  assert.deepEqual(s.slicesInNamespace('nope'), [])

  // Endpoints, against the engine and the input.
  const ep = s.endpoint('ns-3', 'pod-3')
  assert.deepEqual(
    { ...ep, namedPorts: undefined },
    { namespace: 'ns-3', name: 'pod-3', slice: e.endpoint('ns-3', 'pod-3').slice, identity: 1003,
      ips: [ipOf(3)], nodeIp: '192.168.0.4', encryptionKey: 0, namedPorts: undefined, serviceAccount: null },
  )
  assert.deepEqual(ep.namedPorts, [])
  assert.equal(s.endpoint('ns-3', 'nope'), null)

  // Identities.
  assert.deepEqual(s.identityLabels(1003), e.identityLabels(1003))
  assert.ok(s.identityLabels(1003).includes('k8s:app=app-3'))
  assert.equal(s.identityLabels(99999), null)
  assert.equal(s.identityByKey('no such key'), null)

  // IP cache: lookupIp and identityOfIp, on the snapshot and the reader.
  for (let i = 0; i < 100; i++) {
    const hit = s.lookupIp(ipOf(i))
    assert.equal(hit.name, `pod-${i}`)
    assert.equal(hit.identity, 1000 + (i % 50))
    assert.equal(s.identityOfIp(ipOf(i)), 1000 + (i % 50))
    assert.deepEqual(before.lookupIp(ipOf(i)), hit)
    assert.equal(before.identityOfIp(ipOf(i)), hit.identity)
  }
  assert.equal(s.lookupIp('10.200.0.1'), null)
  assert.equal(s.identityOfIp('::1'), null)
  assert.equal(before.lookupIp('10.200.0.1'), null)
  assert.equal(before.identityOfIp('10.200.0.1'), null)
  assert.deepEqual(before.load().counts(), s.counts())

  // Fragmentation: cluster-wide and per namespace.
  const f = s.fragmentation()
  assert.equal(f.slices, s.sliceCount())
  assert.ok(f.ideal >= 1 && f.ideal <= f.slices)
  assert.equal(f.ratio, f.slices / f.ideal)
  const nf = s.fragmentation('ns-0')
  assert.equal(nf.slices, s.slicesInNamespace('ns-0').length)
  assert.deepEqual(s.fragmentation('nope'), { slices: 0, ideal: 0, ratio: 1 })
})

test('Snapshot: identityByKey finds the identity of its canonical labels key', () => {
  const e = engineWith(5)
  const s = e.publish()
  assert.equal(s.identities().length, 5)
  for (const id of s.identities()) {
    // The canonical key: the labels sorted by key, each `source:key=value;`.
    const key = s.identityLabels(id).map((l) => `${l};`).join('')
    assert.equal(s.identityByKey(key), id)
  }
})

test('Snapshot: bad IPs are ValidationError invalid_ip', () => {
  const e = engineWith(3)
  const s = e.publish()
  const r = e.snapshotReader()
  for (const f of [() => s.lookupIp('nope'), () => s.identityOfIp('10.0.0'), () => r.lookupIp(''), () => r.identityOfIp('1.2.3.4.5')]) {
    assert.throws(f, (err) => err instanceof ValidationError && err.code === 'invalid_ip' && err.number === 205 && err.field === 'ip')
  }
})

test('Snapshot: a snapshot taken before a change still shows the old data', () => {
  const e = engineWith(20)
  const old = e.publish()
  const oldEndpoints = old.endpoints()
  const oldSlices = old.slices()
  e.apply(cepEvent(0, 'DELETED'), 3)
  e.apply(cepEvent(500), 3)
  const neu = e.publish()
  assert.equal(neu.version, old.version + 1)
  assert.equal(old.version, 1)
  assert.deepEqual(old.endpoints(), oldEndpoints)
  assert.deepEqual(old.slices(), oldSlices)
  assert.equal(old.lookupIp(ipOf(0)).name, 'pod-0')
  assert.equal(old.lookupIp(ipOf(500)), null)
  assert.equal(neu.lookupIp(ipOf(0)), null)
  assert.equal(neu.lookupIp(ipOf(500)).name, 'pod-500')
  assert.equal(old.endpointCount(), 20)
  assert.equal(neu.endpointCount(), 20)
  // A reader follows the newest.
  assert.equal(e.snapshotReader().load().version, neu.version)
  assert.equal(e.snapshotReader().lookupIp(ipOf(500)).name, 'pod-500')
})

/** Checks one snapshot against itself: counts, slices, IP cache. */
function checkConsistent(s) {
  const eps = s.endpoints()
  assert.equal(eps.length, s.endpointCount())
  let ips = 0
  for (const ep of eps) {
    for (const ip of ep.ips) {
      ips++
      assert.deepEqual(s.lookupIp(ip), ep)
      assert.equal(s.identityOfIp(ip), ep.identity)
    }
    assert.ok(s.slice(ep.slice).endpoints.includes(ep.name))
  }
  assert.equal(ips, s.ipCount())
  const inSlices = s.slices().reduce((a, sl) => a + sl.endpoints.length, 0)
  assert.equal(inSlices, eps.length)
}

test('SnapshotReader: loads stay consistent while the engine keeps publishing', async () => {
  const e = engineWith(50)
  e.publish()
  const reader = e.snapshotReader()
  const first = reader.load()
  const firstEndpoints = first.endpoints()
  let done = false
  let loads = 0
  let lastVersion = 0
  const seen = new Set()

  // Reader: a setImmediate-driven loop, interleaved with the writer.
  const readerLoop = (async () => {
    while (!done) {
      const s = reader.load()
      assert.ok(s.version >= lastVersion, 'versions never go back')
      lastVersion = s.version
      seen.add(s.version)
      checkConsistent(s)
      loads++
      await tick()
    }
  })()

  // Writer: churn, publish, yield.
  const live = new Set(Array.from({ length: 50 }, (_, i) => i))
  for (let round = 0; round < 40; round++) {
    e.apply(cepEvent(1000 + round), 10 + round)
    live.add(1000 + round)
    if (round % 3 === 0) {
      e.apply(cepEvent(round, 'DELETED'), 10 + round)
      live.delete(round)
    }
    e.apply(cepEvent(round % 7, 'MODIFIED'), 10 + round)
    live.add(round % 7)
    e.publish()
    await tick()
  }
  done = true
  await readerLoop
  assert.ok(loads >= 20, `reader ran ${loads} times`)
  assert.ok(seen.size >= 20, `reader saw ${seen.size} versions`)
  assert.equal(reader.version, 41)
  assert.equal(first.version, 1)
  assert.deepEqual(first.endpoints(), firstEndpoints)
  checkConsistent(reader.load())
  assert.deepEqual(reader.load().endpoints().map((x) => Number(x.name.slice(4))).sort((a, b) => a - b), [...live].sort((a, b) => a - b))
})
