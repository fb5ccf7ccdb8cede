/**
 * Ending a process that has run isolated-vm isolates. Neither plain way is safe with isolated-vm 5 on Node 20:
 * - A natural exit runs Node's teardown (FreeEnvironment, then ~IsolateData), which can finish an incremental
 *   GC after isolated-vm's cleanup hook released its default environment; the weak callbacks of isolated-vm's
 *   handles then abort the process (`IsolateEnvironment::GetCurrent(): Assertion environment != nullptr`).
 * - process.exit right after disposing an isolate races isolated-vm's pool thread, which may still be
 *   destroying that isolate while Node disposes the V8 platform (SIGSEGV in ~IsolateEnvironment).
 * So: wait until the event loop has nothing left (isolated-vm keeps it referenced until a disposal has
 * finished; pending stdout/stderr writes keep it too), then process.exit, which skips the teardown.
 * `graceMs` bounds the wait when some other handle keeps the loop alive.
 */
export function exitWhenSettled(code: number, graceMs = 2_000): void {
  process.once('beforeExit', () => process.exit(code));
  setTimeout(() => process.exit(code), graceMs).unref();
}
