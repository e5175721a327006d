import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['1.5s', 1500],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    [' 5 s ', 5000],
    [30, 30_000],
    [0.25, 250],
    [0, 0],
  ] as const)('%j -> %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['5 parsecs', '', '5', '-5s', 's', '1w', '5S'])('rejects %j', (input) => {
    expect(() => parseDuration(input)).toThrow(/invalid duration/);
  });

  it.each([-1, Infinity, NaN])('rejects the number %d', (input) => {
    expect(() => parseDuration(input)).toThrow(/invalid duration/);
  });
});

describe('parseSize', () => {
  it.each([
    ['256MiB', 256 * 2 ** 20],
    ['16MB', 16e6],
    ['512KiB', 512 * 1024],
    ['1kB', 1000],
    ['100B', 100],
    ['100', 100],
    ['1.5GiB', 1.5 * 2 ** 30],
    [4096, 4096],
  ] as const)('%j -> %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['12 parsecs', '1mib', 'MiB', '-1B', ''])('rejects %j', (input) => {
    expect(() => parseSize(input)).toThrow(/invalid size/);
  });
});

describe('formatting', () => {
  it.each([
    [0, '0s'],
    [1500, '1500ms'],
    [60_000, '1m'],
    [86_400_000, '1d'],
  ])('duration %d -> %s', (ms, text) => expect(formatDuration(ms)).toBe(text));

  it.each([
    [0, '0B'],
    [1000, '1000B'],
    [2 ** 20, '1MiB'],
    [256 * 1024, '256KiB'],
  ])('size %d -> %s', (bytes, text) => expect(formatSize(bytes)).toBe(text));
});
