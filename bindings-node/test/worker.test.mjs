// Each worker thread loads the addon and runs its own Engine.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { Engine, Config, SliceplaneError } = require(workerData.pkg)
const e = new Engine(Config.fromObject({ source: 'ciliumendpoints', seed: workerData.seed }))
const events = []
for (let i = 0; i < workerData.n; i++) {
  events.push(JSON.stringify({ type: 'ADDED', object: { apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint',
    metadata: { name: 'p' + i, namespace: 'w' + workerData.seed },
    status: { identity: { id: 1000 + (i % 7) }, networking: { addressing: [{ ipv4: '10.1.' + (i >> 8) + '.' + (i & 255) }], node: '192.168.0.1' } } } }))
}
const rejected = e.applyJsonLines(Buffer.from(events.join('\\n')), 1)
let typed = false
try { e.apply({ type: 'NOPE', object: {} }, 1) } catch (err) { typed = err instanceof SliceplaneError && err.code === 'unknown_event_type' }
e.initialSyncDone(2)
const plan = e.flush(1000000)
parentPort.postMessage({ rejected: rejected.length, endpoints: e.stats().endpoints, writes: plan.length, typed,
  names: e.desiredSlices().map((s) => s.metadata.name) })
`

function run(seed, n) {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerSource, { eval: true, workerData: { pkg: new URL('../index.js', import.meta.url).pathname, seed, n } })
    w.once('message', resolve)
    w.once('error', reject)
  })
}

test('engines in worker threads run independently', async () => {
  const results = await Promise.all([run(1, 500), run(2, 800), run(3, 300), run(1, 500)])
  assert.deepEqual(results.map((r) => r.endpoints), [500, 800, 300, 500])
  for (const r of results) {
    assert.equal(r.rejected, 0)
    assert.ok(r.typed)
    assert.ok(r.writes > 0)
  }
  // Same seed and input, same result: engines share nothing.
  assert.deepEqual(results[0].names, results[3].names)
})
