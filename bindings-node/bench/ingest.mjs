// Bulk-ingest benchmark: N CiliumEndpoint events through applyJsonLines (one
// JSON-lines Buffer) and through applyMany (plain objects).
//   node bench/ingest.mjs [N]      (build with `npm run build:release` first)
import { Config, Engine } from 'sliceplane'
import { cepEvent } from '../test/helpers.mjs'

const N = Number(process.argv[2] ?? 200_000)
const config = () => Config.fromObject({ source: 'ciliumendpoints' })

const events = Array.from({ length: N }, (_, i) => cepEvent(i))
const buf = Buffer.from(events.map((e) => JSON.stringify(e)).join('\n'))
console.log(`N=${N} events, ${(buf.length / 1e6).toFixed(1)} MB of JSON lines`)

function run(name, f, perRun = N) {
  const results = []
  for (let r = 0; r < 3; r++) {
    const e = new Engine(config())
    const t0 = process.hrtime.bigint()
    const rejected = f(e)
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    if (rejected.length) throw new Error(`${rejected.length} rejected: ${rejected[0].error.message}`)
    if (e.stats().endpoints !== N) throw new Error('not every endpoint applied')
    results.push(perRun / s)
  }
  const best = Math.max(...results)
  console.log(`${name}: best ${(best / 1e6).toFixed(3)} M events/s (runs: ${results.map((x) => (x / 1e6).toFixed(3)).join(', ')})`)
  return best
}

run('applyJsonLines (cold, ADDED)', (e) => e.applyJsonLines(buf, 1))
run('applyMany (cold, ADDED)', (e) => e.applyMany(events, 1))
// Churn: the same endpoints ADDED then MODIFIED (2N events per run).
const mod = Buffer.from(events.map((_, i) => JSON.stringify(cepEvent(i, 'MODIFIED'))).join('\n'))
run('applyJsonLines (warm, MODIFIED)', (e) => {
  e.applyJsonLines(buf, 1)
  return e.applyJsonLines(mod, 2)
}, 2 * N)
