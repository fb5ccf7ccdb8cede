export type { ParserHostStats, SandboxParserHost } from './isolate-host.js';
export { createParserHost, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS } from './isolate-host.js';
