// The house rules that keep the framework a framework: runtime/ imports no outer room (drivers,
// flows, models, provisioning), type imports and tests included; only the composition root
// (main.ts) knows every room. And the product's docs stand alone: they link nothing outside
// the repository.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

describe('house rules', () => {
  it('runtime/ imports nothing from drivers/, flows/, models/, provisioning/ or status/', () => {
    const outer = /(?:from\s+|import\s*\(\s*)['"](?:\.\.\/)+(drivers|flows|models|provisioning|status)\//;
    const offenders = files('runtime', /\.ts$/).flatMap((f) =>
      readFileSync(path.join(root, f), 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${f}:${i + 1}` }))
        .filter(({ line }) => outer.test(line))
        .map(({ line, at }) => `${at}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });

  it('dynamic imports name their module literally (the build rewrites only literal .ts specifiers)', () => {
    // A computed specifier like import(new URL('./x.ts', ...)) works from the sources and breaks
    // in dist/ (the camera's pipeline once failed to load there). Package names held in a const
    // (to keep a heavy package off the type checker's path) are fine.
    const computed = /\bimport\(\s*(?!['"`])([A-Za-z_$][\w$]*)?/g;
    const offenders: string[] = [];
    for (const dir of ['runtime', 'drivers', 'flows', 'models', 'provisioning', 'status']) {
      for (const f of files(dir, /(?<!\.test)\.ts$/)) {
        const text = readFileSync(path.join(root, f), 'utf8');
        for (const m of text.matchAll(computed)) {
          const name = m[1];
          const literalConst = name && new RegExp(`const ${name} = '[a-z@][^'./]*'`).test(text); // a package name, not a path
          if (!literalConst) offenders.push(`${f}: ${text.slice(m.index, m.index + 60).split('\n')[0]}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the composition root is what wires the rooms together', () => {
    const main = readFileSync(path.join(root, 'main.ts'), 'utf8');
    for (const room of ['./drivers/', './flows/', './runtime/']) expect(main).toContain(`from '${room}`);
  });

  it('README and docs/ link nothing outside the repository', () => {
    const docs = ['README.md', ...files('docs', /\.md$/)];
    const outside = docs.flatMap((f) =>
      readFileSync(path.join(root, f), 'utf8')
        .split('\n')
        .flatMap((line, i) => {
          const targets = [...line.matchAll(/\]\(([^)\s]+)\)|\[(\.\.\/[^\]]+)\]/g)].map((m) => m[1] ?? m[2]);
          const bad = targets.filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith('#') && path.relative(root, path.resolve(root, path.dirname(f), t.split('#')[0])).startsWith('..'));
          if (/\.\.\/shared\//.test(line)) bad.push('../shared');
          return bad.map((t) => `${f}:${i + 1}: ${t}`);
        }),
    );
    expect(outside).toEqual([]);
  });
});
