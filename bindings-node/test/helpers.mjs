// Shared fixtures for the tests and the benchmark.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

export const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = join(here, '..', '..')
export const exampleWatch = () => readFileSync(join(repoRoot, 'examples', 'cluster-watch.jsonl'))

/** A CiliumEndpoint watch event for endpoint `i` (identity spread over 50). */
export function cepEvent(i, type = 'ADDED') {
  const ns = `ns-${i % 10}`
  return {
    type,
    object: {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: { name: `pod-${i}`, namespace: ns, uid: `uid-${i}`, resourceVersion: String(i + 1) },
      status: {
        identity: { id: 1000 + (i % 50), labels: [`k8s:app=app-${i % 50}`, `k8s:io.kubernetes.pod.namespace=${ns}`] },
        networking: {
          addressing: [{ ipv4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }],
          node: `192.168.0.${(i % 20) + 1}`,
        },
      },
    },
  }
}

export function namespaceEvent(name) {
  return { type: 'ADDED', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: {} } } }
}
