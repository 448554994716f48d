// The shared conformance fixtures (tests/conformance/, see its README), run
// through the Node binding: the same inputs and expected outputs as the
// Rust, C, Go and Python suites. Outputs are compared as parsed values
// (every key present with an equal value, no extra key), so a field the
// binding drops or renames fails here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import {
  Config, Consumer, Engine, PolicyCluster,
  SliceplaneError, ParseError, ValidationError, ConfigError, WritePathError, PolicyError,
} from 'sliceplane'
import { repoRoot } from './helpers.mjs'

const root = join(repoRoot, 'tests', 'conformance')

function cases(kind) {
  const dir = join(root, kind)
  const found = readdirSync(dir).sort().map((n) => join(dir, n)).filter((p) => statSync(p).isDirectory())
  assert.ok(found.length > 0, `no ${kind} cases`)
  return found
}

const json = (path) => JSON.parse(readFileSync(path, 'utf8'))
const expected = (dir, name) => json(join(dir, 'expected', name))

/** Exact equality of parsed JSON values, naming the first difference. */
function same(got, want, path = '$') {
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${path}: want an array, got ${JSON.stringify(got)}`)
    assert.equal(got.length, want.length, `${path}: length`)
    want.forEach((w, i) => same(got[i], w, `${path}[${i}]`))
  } else if (want !== null && typeof want === 'object') {
    assert.ok(got !== null && typeof got === 'object' && !Array.isArray(got), `${path}: want an object, got ${JSON.stringify(got)}`)
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${path}: keys`)
    for (const k of Object.keys(want)) same(got[k], want[k], `${path}.${k}`)
  } else {
    assert.equal(got, want, `${path}`)
  }
}

const FAMILY = { 1: ParseError, 2: ValidationError, 3: ConfigError, 4: WritePathError, 5: PolicyError }

/** The wire fields of each rejection; its `error` (the binding's documented
 * extra) must be the same error, typed. */
function wireRejected(rejected) {
  return rejected.map((r) => {
    const { error, ...wire } = r
    assert.ok(error instanceof SliceplaneError && error instanceof FAMILY[Math.floor(r.number / 100)])
    assert.deepEqual([error.code, error.number, error.detail, error.object, error.field],
      [r.code, r.number, r.message, r.object, r.field])
    return wire
  })
}

for (const dir of cases('engine')) {
  test(`conformance engine/${dir.split('/').at(-1)}`, () => {
    const c = json(join(dir, 'case.json'))
    const engine = new Engine(Config.fromObject(c.config))
    const rejected = engine.applyJsonLines(readFileSync(join(dir, 'input.jsonl')), 0)
    same(wireRejected(rejected), expected(dir, 'rejected.json'))
    engine.initialSyncDone(0)
    const writes = []
    for (const t of c.flushAt) {
      for (const w of engine.flush(t)) {
        writes.push(w)
        engine.reportSuccess(w.id, `rv-${w.id}`, `uid-${w.id}`, t)
      }
    }
    same(writes, expected(dir, 'writes.json'))
    const snap = engine.publish()
    same(snap.endpoints(), expected(dir, 'endpoints.json'))
    same(snap.slices(), expected(dir, 'slices.json'))
  })
}

for (const dir of cases('consumer')) {
  test(`conformance consumer/${dir.split('/').at(-1)}`, () => {
    const c = json(join(dir, 'case.json'))
    const consumer = new Consumer()
    consumer.setNow(c.now)
    const { changes, rejected, ...rest } = consumer.applyJsonLines(readFileSync(join(dir, 'input.jsonl')))
    assert.deepEqual(rest, {})
    same(changes, expected(dir, 'changes.json'))
    same(wireRejected(rejected), expected(dir, 'rejected.json'))
    const snap = consumer.publish()
    same(snap.endpoints(), expected(dir, 'endpoints.json'))
    same(snap.slices(), expected(dir, 'slices.json'))
  })
}

function policyCluster(dir) {
  const items = json(join(dir, 'cluster.json')).items
  const pc = new PolicyCluster(items.filter((o) => o.kind === 'Namespace'), items.filter((o) => o.kind === 'Pod'))
  for (const p of json(join(dir, 'policies.json')).items) pc.upsertPolicy(p)
  return pc
}

for (const dir of cases('policy')) {
  test(`conformance policy/${dir.split('/').at(-1)}`, () => {
    const answers = policyCluster(dir).answerProbes(readFileSync(join(dir, 'probes.jsonl')))
    same(answers, expected(dir, 'answers.json'))
  })
}

test('conformance: single probes follow the same rules as the stream', () => {
  const dir = cases('policy')[0]
  const pc = policyCluster(dir)
  const want = expected(dir, 'answers.json')
  const lines = readFileSync(join(dir, 'probes.jsonl'), 'utf8').split('\n')
  let checked = 0
  lines.forEach((line, i) => {
    let probe
    try { probe = JSON.parse(line) } catch { return } // unreadable: only the stream call sees it
    // A number beyond 2^53 is not exact in JS: only the stream call keeps it.
    if (!probe || Array.isArray(probe) || typeof probe !== 'object' || Math.abs(probe.port) > Number.MAX_SAFE_INTEGER) return
    const answer = want[i]
    const run = () => pc.probe(probe.from, probe.to, probe.port, probe.protocol)
    if (answer.error) {
      assert.throws(run, (e) => {
        assert.ok(e instanceof PolicyError)
        same({ code: e.code, number: e.number, field: e.field, message: e.detail }, answer.error)
        return true
      })
    } else {
      const { verdict, egress, ingress, deciding } = answer
      same(run(), { verdict, egress, ingress, deciding })
    }
    checked++
  })
  assert.ok(checked >= 18, `${checked} probes checked`)
})

test('conformance: the comparison fails on a missing, extra or renamed field', () => {
  const want = expected(cases('engine')[0], 'endpoints.json')[0]
  const { serviceAccount, ...missing } = want
  void serviceAccount
  const renamed = Object.fromEntries(Object.entries(want).map(([k, v]) => [k === 'nodeIp' ? 'node_ip' : k, v]))
  for (const got of [missing, { ...want, extra: 1 }, renamed, { ...want, identity: String(want.identity) }]) {
    assert.throws(() => same(got, want), assert.AssertionError)
  }
  same({ ...want }, want)
})
