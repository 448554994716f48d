// The package's public surface: the CommonJS and ESM entry points export the
// same names, exactly those index.d.ts declares (README: "Surface").
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as esm from 'sliceplane'
import { here } from './helpers.mjs'

const require = createRequire(import.meta.url)
const cjs = require('sliceplane')

const SURFACE = [
  'Config', 'ConfigError', 'Consumer', 'Engine', 'ParseError', 'PolicyCluster', 'PolicyError',
  'SliceplaneError', 'Snapshot', 'SnapshotReader', 'ValidationError', 'WritePathError',
  'coreVersion', 'errorCodes',
]

test('CommonJS, ESM and index.d.ts expose the same names, and only those', () => {
  assert.deepEqual(Object.keys(cjs).sort(), SURFACE)
  assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), SURFACE)
  for (const k of SURFACE) assert.equal(esm[k], cjs[k], k)
  const dts = readFileSync(join(here, '..', 'index.d.ts'), 'utf8')
  const declared = [...dts.matchAll(/^export (?:declare )?(?:class|function) (\w+)/gm)].map((m) => m[1]).sort()
  assert.deepEqual(declared, SURFACE)
})
