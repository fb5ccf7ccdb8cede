/** How a command that has run parser isolates ends: see parsers/exit-when-settled.ts. */
export { exitWhenSettled } from '../parsers/exit-when-settled.js';
