/**
 * A bad flag, flag value or file named by a flag, in a load-test or bench script. `code` is the CLI's usage
 * code, so `tago-edge loadtest` turns it into its own usage error (exit 2) without loadtests/ importing cli/.
 */
export class LoadtestUsageError extends Error {
  readonly code = 'EDGE_ERR_USAGE';
}
