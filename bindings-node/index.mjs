// ESM entry point: re-exports the CommonJS wrapper.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const sp = require('./index.js')

export const {
  Config,
  Engine,
  Snapshot,
  SnapshotReader,
  Consumer,
  PolicyCluster,
  SliceplaneError,
  ParseError,
  ValidationError,
  ConfigError,
  WritePathError,
  PolicyError,
  errorCodes,
  coreVersion,
} = sp
export default sp
