/** `tago-edge cloud-sim`: a local stand-in for the TagoIO device API. See README.md. */
export type { CloudSimOptions, Faults } from './options.js';
export { DEFAULTS as CLOUD_SIM_DEFAULTS } from './options.js';
export type { SequenceStats } from './sequences.js';
export type { CloudSim } from './server.js';
export { startCloudSim } from './server.js';
export type { SimStats } from './stats.js';
