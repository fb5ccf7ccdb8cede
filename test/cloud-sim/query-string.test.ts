import { describe, expect, it } from 'vitest';
import { listParam, oneParam, parseQuery } from '../../simulators/cloud-sim/query-string.js';

describe('cloud-sim query-string parser', () => {
  it.each([
    ['variable=a', ['a']],
    ['variable=a&variable=b', ['a', 'b']],
    ['variables[]=a&variables[]=b', ['a', 'b']],
    ['variables%5B%5D=a&variables%5B%5D=b', ['a', 'b']],
    ['variables[1]=b&variables[0]=a', ['a', 'b']],
    ['variables%5B0%5D=a&variables%5B1%5D=b&variables%5B10%5D=k&variables%5B2%5D=c', ['a', 'b', 'c', 'k']],
    ['variable=a&variables[0]=b', ['a', 'b']],
  ])('%s', (search, expected) => {
    expect(listParam(parseQuery(search), 'variable', 'variables')).toEqual(expected);
  });

  it('takes the last value of a scalar and ignores empty values', () => {
    const q = parseQuery('?qty=5&qty=7&groups=&groups=g');
    expect(oneParam(q, 'qty')).toBe('7');
    expect(listParam(q, 'groups')).toEqual(['g']);
    expect(oneParam(q, 'missing')).toBeUndefined();
  });
});
