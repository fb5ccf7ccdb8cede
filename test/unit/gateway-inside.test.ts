import { describe, expect, it } from 'vitest';
import { metricSum } from '../../loadtests/bench/gateway-inside.js';

const TEXT = `# HELP tago_edge_ingest_ack_seconds Time from a request/publish arriving to its acknowledgement
# TYPE tago_edge_ingest_ack_seconds histogram
tago_edge_ingest_ack_seconds_bucket{le="0.005",protocol="mqtt"} 10
tago_edge_ingest_ack_seconds_sum{protocol="mqtt"} 0.25
tago_edge_ingest_ack_seconds_count{protocol="mqtt"} 40
tago_edge_ingest_ack_seconds_sum{protocol="http"} 0.5
tago_edge_ingest_ack_seconds_count{protocol="http"} 10
tago_edge_store_commits_total 7
tago_edge_store_commits_total_extra 100
`;

describe('metricSum (bench: the gateway inside view)', () => {
  it('adds every label set of a series and only that series', () => {
    expect(metricSum(TEXT, 'tago_edge_ingest_ack_seconds_sum')).toBeCloseTo(0.75);
    expect(metricSum(TEXT, 'tago_edge_ingest_ack_seconds_count')).toBe(50);
    expect(metricSum(TEXT, 'tago_edge_store_commits_total')).toBe(7);
  });

  it('is NaN for a series that is not there', () => {
    expect(metricSum(TEXT, 'tago_edge_parser_seconds_sum')).toBeNaN();
  });
});
