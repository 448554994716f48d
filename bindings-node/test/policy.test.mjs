import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PolicyCluster, PolicyError, ParseError, SliceplaneError } from 'sliceplane'

const ns = (name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: {} } })
const pod = (namespace, name, app, ip) => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace, labels: { app } },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '192.168.1.1' },
})
const world = () => new PolicyCluster([ns('a')], [pod('a', 'web', 'web', '10.0.0.1'), pod('a', 'client', 'client', '10.0.0.2'), pod('a', 'other', 'other', '10.0.0.3')])
const denyAllButClient = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
  metadata: { name: 'web', namespace: 'a' },
  spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }] },
}

test('probe and matrix follow a NetworkPolicy', () => {
  const pc = world()
  assert.equal(pc.probe('a/other', 'a/web', 8080).verdict, 'allow')
  const key = pc.upsertPolicy(denyAllButClient)
  assert.equal(key.name, 'web')
  assert.equal(pc.probe('a/client', 'a/web', 8080, 'TCP').verdict, 'allow')
  assert.equal(pc.probe('a/client', 'a/web', 'http').verdict, 'allow')
  assert.equal(pc.probe('a/other', 'a/web', 8080).verdict, 'deny')
  assert.equal(pc.probe('10.0.0.3', '10.0.0.1', 8080).verdict, 'deny')
  assert.equal(pc.probe('a/client', 'a/web', 8080, 'UDP').verdict, 'deny')
  const m = pc.matrix(8080)
  assert.equal(m.peers.length, 3)
  assert.equal(m.cells.length, 3)
  assert.match(m.truthTable, /X/)
  assert.equal(typeof pc.identityOf('a', 'web'), 'number')
  assert.equal(pc.identityOf('a', 'nope'), null)
  assert.equal(pc.removePolicy(key), true)
  assert.equal(pc.probe('a/other', 'a/web', 8080).verdict, 'allow')
})

test('policy bad input: typed errors, nothing changed', () => {
  const pc = world()
  const expect = (f, cls, code) => assert.throws(f, (e) => e instanceof cls && e instanceof SliceplaneError && e.code === code)
  expect(() => pc.probe('a/ghost', 'a/web', 80), PolicyError, 'invalid_probe')
  expect(() => pc.probe('nonsense', 'a/web', 80), PolicyError, 'invalid_probe')
  expect(() => pc.probe('a/web', 'a/web', 80, 'ICMP'), PolicyError, 'invalid_probe')
  expect(() => pc.probe('a/web', 'a/web', 70000), PolicyError, 'invalid_probe')
  // The core's probe rules, as in every binding and the CLI: port 0 is no port.
  expect(() => pc.probe('a/web', 'a/web', 0), PolicyError, 'invalid_probe')
  expect(() => pc.probe('a/web', 'a/web'), PolicyError, 'invalid_probe')
  expect(() => pc.matrix(0), PolicyError, 'invalid_probe')
  expect(() => pc.matrix(80, 'ICMP'), PolicyError, 'invalid_probe')
  expect(() => pc.upsertPolicy({ ...denyAllButClient, spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Sideways'] } }), PolicyError, 'invalid_policy')
  expect(() => new PolicyCluster([{ kind: 'Gadget', apiVersion: 'v9', metadata: { name: 'x' } }], []), ParseError, 'unknown_kind')
  expect(() => pc.removePolicy({ nope: 1 }), PolicyError, 'invalid_policy')
  assert.equal(pc.probe('a/other', 'a/web', 8080).verdict, 'allow')
})
