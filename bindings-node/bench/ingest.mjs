// Bulk-ingest benchmark: N CiliumEndpoint events through applyJsonLines (one
// JSON-lines Buffer) and through applyMany (plain objects); then the same
// bytes through the core's own batch ingest in Rust (the ingest_file example
// of benches/, built with cargo if needed) in the same run, and the ratio
// (issue 15: applyJsonLines within 10% of the core). SLICEPLANE_NO_CORE=1
// skips that.
//   node bench/ingest.mjs [N]      (build with `npm run build:release` first)
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
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

const jsonLines = run('applyJsonLines (cold, ADDED)', (e) => e.applyJsonLines(buf, 1))
run('applyMany (cold, ADDED)', (e) => e.applyMany(events, 1))
// Churn: the same endpoints ADDED then MODIFIED (2N events per run).
const mod = Buffer.from(events.map((_, i) => JSON.stringify(cepEvent(i, 'MODIFIED'))).join('\n'))
run('applyJsonLines (warm, MODIFIED)', (e) => {
  e.applyJsonLines(buf, 1)
  return e.applyJsonLines(mod, 2)
}, 2 * N)

if (process.env.SLICEPLANE_NO_CORE !== '1') {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
  execFileSync('cargo', ['build', '--release', '--locked', '-q', '-p', 'sliceplane-workload', '--example', 'ingest_file'], { cwd: repo, stdio: 'inherit' })
  const target = process.env.CARGO_TARGET_DIR ?? join(repo, 'target')
  const dir = mkdtempSync(join(tmpdir(), 'sliceplane-ingest-'))
  try {
    const file = join(dir, 'events.jsonl')
    writeFileSync(file, buf)
    const out = execFileSync(join(target, 'release', 'examples', 'ingest_file'), [file, 'ciliumendpoints', '3'], { encoding: 'utf8' })
    const batch = out.split('\n').map((l) => l.split(' ')).find((f) => f[0] === 'batch')
    const core = N / Number(batch[1])
    console.log(`core batch (same bytes): ${(core / 1e6).toFixed(3)} M events/s`)
    console.log(`applyJsonLines / core time: ${(core / jsonLines).toFixed(2)} (target <= 1.10)`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
