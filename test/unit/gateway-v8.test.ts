import { describe, expect, it } from 'vitest';
import { tuneV8ForGateway } from '../../cli/commands/gateway.js';

describe('tuneV8ForGateway', () => {
  it('turns allocation-site pretenuring off unless TAGO_EDGE_V8_PRETENURING=on', () => {
    // The flag itself only shows in memory figures (npm run bench -- --only memory); here, the switch.
    expect(tuneV8ForGateway({ TAGO_EDGE_V8_PRETENURING: 'on' })).toBe(false);
    expect(tuneV8ForGateway({})).toBe(true);
    expect(tuneV8ForGateway({ TAGO_EDGE_V8_PRETENURING: 'off' })).toBe(true);
  });
});
