// Emitted objects validate against the CRD schemas in ../shared/schemas.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import Ajv from 'ajv'
import yaml from 'js-yaml'
import { Config, Engine } from 'sliceplane'
import { repoRoot, exampleWatch, cepEvent } from './helpers.mjs'

const schemaDir = join(repoRoot, '..', 'shared', 'schemas')

function validator(file) {
  const crd = yaml.load(readFileSync(join(schemaDir, file), 'utf8'))
  const ajv = new Ajv({ strict: false, allErrors: true })
  return ajv.compile(crd.spec.versions[0].schema.openAPIV3Schema)
}

test('flushed objects and desired state match the CRD schemas', { skip: !existsSync(schemaDir) && 'no ../shared/schemas' }, () => {
  const ces = validator('ciliumendpointslices.yaml')
  const cid = validator('ciliumidentities.yaml')
  const check = (obj) => {
    const v = obj.kind === 'CiliumIdentity' ? cid : ces
    assert.ok(v(obj), `${obj.kind} ${obj.metadata?.name}: ${JSON.stringify(v.errors)}`)
  }
  // Pods source: identities and slices.
  const e = new Engine(Config.fromObject({ source: 'pods', seed: 1 }))
  e.applyJsonLines(exampleWatch(), 1)
  e.initialSyncDone(2)
  const plan = e.flush(1_000_000)
  assert.ok(plan.some((w) => w.kind === 'CiliumIdentity') && plan.some((w) => w.kind === 'CiliumEndpointSlice'))
  for (const w of plan) if (w.op !== 'delete') check(w.object)
  e.desiredSlices().forEach(check)
  e.desiredIdentities().forEach(check)
  // CiliumEndpoints source: slices.
  const c = new Engine(Config.fromObject({ source: 'ciliumendpoints' }))
  c.applyMany(Array.from({ length: 300 }, (_, i) => cepEvent(i)), 1)
  c.initialSyncDone(2)
  const cplan = c.flush(1_000_000)
  assert.ok(cplan.length > 0)
  for (const w of cplan) check(w.object)
})
