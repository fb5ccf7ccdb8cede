/** A bad flag or argument: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  readonly code = 'EDGE_ERR_USAGE';
}
