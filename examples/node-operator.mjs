// A minimal sliceplane operator for Node.js: watch -> engine -> writes.
//
//   node examples/node-operator.mjs            # needs a kubeconfig and
//                                              # `npm i @kubernetes/client-node`
//
// The Kubernetes API sits behind a small interface (`KubeApi`) so tests drive
// the loop with a fake (bindings-node/test/operator.test.mjs). Only
// `kubeApi()` imports @kubernetes/client-node, lazily.
import { Config, Engine } from '../bindings-node/index.mjs'

/**
 * @typedef {object} KubeApi
 * @property {(onEvent: (ev: {type: string, object: object}) => void) => Promise<void>} list
 *   Lists every watched resource, calling onEvent per object (initial sync).
 * @property {(onEvent: (ev: {type: string, object: object}) => void) => () => void} watch
 *   Starts the watches; returns a stop function.
 * @property {(write: import('../bindings-node/index.d.ts').PlannedWrite) => Promise<object>} send
 *   Sends one write, resolving to the object the server returned; rejects with
 *   an error carrying an HTTP `code` (404, 409, ...).
 */

/** The outcome to report for a write that failed with HTTP `code`. */
export function outcomeOf(write, err) {
  const code = err?.code ?? err?.statusCode ?? err?.response?.statusCode
  if (code === 404) return { outcome: 'notFound' }
  if (code === 409) return write.op === 'create' ? { outcome: 'alreadyExists' } : { outcome: 'conflict' }
  return { outcome: 'error', message: String(err?.message ?? err) }
}

export class Operator {
  /** @param {KubeApi} api */
  constructor(api, { config = Config.fromObject({ source: 'pods' }), now = () => Date.now(), log = () => {} } = {}) {
    this.api = api
    this.engine = new Engine(config)
    this.now = now
    this.log = log
  }

  /** Feeds one watch event; a bad object is logged and skipped. */
  onEvent = (ev) => {
    try {
      this.engine.apply(ev, this.now())
    } catch (err) {
      this.log(`rejected: ${err.message}`)
    }
  }

  /** Lists everything, then ends the initial sync. */
  async sync() {
    await this.api.list(this.onEvent)
    this.engine.initialSyncDone(this.now())
  }

  /** Sends every write due now, in plan order, and reports each outcome. */
  async flushOnce() {
    const plan = this.engine.flush(this.now())
    for (const w of plan) {
      let outcome
      try {
        const obj = await this.api.send(w)
        outcome = { outcome: 'success', resourceVersion: obj?.metadata?.resourceVersion, uid: obj?.metadata?.uid }
      } catch (err) {
        outcome = outcomeOf(w, err)
      }
      this.engine.report(w.id, outcome, this.now())
    }
    for (const e of this.engine.drainEvents()) this.log(`${e.severity} ${e.kind} ${e.subject}: ${e.message}`)
    return plan.length
  }

  /** Runs until `signal` aborts: watch, flush when due. */
  async run(signal) {
    await this.sync()
    const stop = this.api.watch(this.onEvent)
    try {
      while (!signal?.aborted) {
        await this.flushOnce()
        const due = this.engine.nextDue()
        const wait = due === null ? 1000 : Math.min(1000, Math.max(10, due - this.now()))
        await new Promise((r) => setTimeout(r, wait))
      }
    } finally {
      stop()
    }
  }
}

/** The real API through @kubernetes/client-node (imported lazily). */
export async function kubeApi() {
  const k8s = await import('@kubernetes/client-node')
  const kc = new k8s.KubeConfig()
  kc.loadFromDefault()
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const custom = kc.makeApiClient(k8s.CustomObjectsApi)
  const paths = ['/api/v1/namespaces', '/api/v1/nodes', '/api/v1/pods']
  return {
    async list(onEvent) {
      for (const [list, kind] of [
        [() => core.listNamespace(), 'Namespace'],
        [() => core.listNode(), 'Node'],
        [() => core.listPodForAllNamespaces(), 'Pod'],
        [() => custom.listClusterCustomObject({ group: 'cilium.io', version: 'v2alpha1', plural: 'ciliumendpointslices' }), 'CiliumEndpointSlice'],
        [() => custom.listClusterCustomObject({ group: 'cilium.io', version: 'v2', plural: 'ciliumidentities' }), 'CiliumIdentity'],
      ]) {
        const res = await list()
        const apiVersion = kind.startsWith('Cilium') ? (kind === 'CiliumIdentity' ? 'cilium.io/v2' : 'cilium.io/v2alpha1') : 'v1'
        for (const item of res.items ?? []) onEvent({ type: 'ADDED', object: { apiVersion, kind, ...item } })
      }
    },
    watch(onEvent) {
      const w = new k8s.Watch(kc)
      const reqs = paths.map((p) => w.watch(p, {}, (type, object) => onEvent({ type, object }), () => {}))
      return () => reqs.forEach((r) => r.then((c) => c?.abort?.()))
    },
    async send(write) {
      const { group, version, plural, name, object } = write
      if (write.op === 'create') return custom.createClusterCustomObject({ group, version, plural, body: object })
      if (write.op === 'update') return custom.replaceClusterCustomObject({ group, version, plural, name, body: object })
      return custom.deleteClusterCustomObject({ group, version, plural, name, body: { preconditions: write.preconditions } })
    },
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const op = new Operator(await kubeApi(), { log: console.log })
  const ac = new AbortController()
  process.on('SIGINT', () => ac.abort())
  await op.run(ac.signal)
}
