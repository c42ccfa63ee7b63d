import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Comments cite the docs as `docs/protocol.md, "Section"` (or `"A" and "B"`): each cited section
// must be a heading of that page, so that a reader who follows the citation finds the rule.

const ROOT = new URL('../../', import.meta.url).pathname;
const CITATION = /\b([a-z-]+)\.md, ("[^"\n]+"(?: and "[^"\n]+")*)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs|js)$/.test(name) ? [path] : [];
  });
}

function headings(page: string): Set<string> {
  const text = readFileSync(join(ROOT, 'docs', `${page}.md`), 'utf8');
  return new Set([...text.matchAll(/^#{1,4} (.+)$/gm)].map((match) => match[1].trim()));
}

describe('docs - citations', () => {
  it('docs - every section a source comment cites is a heading of the page it names', () => {
    const broken: string[] = [];
    let cited = 0;
    for (const file of [...sourceFiles('src'), ...sourceFiles('scripts'), 'eslint.config.js']) {
      for (const match of readFileSync(join(ROOT, file), 'utf8').matchAll(CITATION)) {
        const [, page, sections] = match;
        const known = headings(page);
        for (const [, section] of sections.matchAll(/"([^"]+)"/g)) {
          cited++;
          if (!known.has(section)) broken.push(`${file}: ${page}.md, "${section}"`);
        }
      }
    }
    expect(broken).toEqual([]);
    expect(cited).toBeGreaterThan(20);
  });
});
