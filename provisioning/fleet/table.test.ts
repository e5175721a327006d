import { describe, expect, it } from 'vitest';
import { formatTags, formatUptime, renderTable } from './table.ts';

describe('renderTable', () => {
  it('pads columns to the widest cell, with a rule under the header', () => {
    const t = renderTable(['gateway', 'online'], [['pole-1', 'yes'], ['pole-0042', 'no']]);
    expect(t).toBe('gateway    online\n---------  ------\npole-1     yes\npole-0042  no\n');
  });
  it('cuts long cells and flattens newlines', () => {
    const t = renderTable(['a', 'b'], [['x'.repeat(10), 'two\nlines']], 5);
    expect(t.split('\n')[2]).toBe('xxxx…  two …');
  });
});

describe('formatters', () => {
  it('uptime and tags', () => {
    expect(formatUptime(93784)).toBe('1d 2h');
    expect(formatUptime(3720)).toBe('1h 2m');
    expect(formatUptime(75)).toBe('1m 15s');
    expect(formatUptime(undefined)).toBe('-');
    expect(formatTags({ zone: 'north', kind: 'pole' })).toBe('kind=pole,zone=north');
    expect(formatTags({})).toBe('-');
  });
});
