// Where a YAML syntax error really is. The parser notices an unclosed quote or bracket only
// where the file ends (or the indentation breaks), so it reports that place; an operator
// needs the line where the quote or bracket was opened.
import { Parser, type LineCounter, type YAMLError } from 'yaml';

interface Opener {
  offset: number;
  what: string;
}

/** Line, column (1-based) and message of a parse error, pointing at the unclosed opener if any. */
export function yamlErrorAt(text: string, err: YAMLError, lc: LineCounter): { line: number; column: number; message: string } {
  const pos = err.pos[0];
  const unclosed = err.code === 'MISSING_CHAR' || err.code === 'BAD_INDENT' || err.code === 'UNEXPECTED_TOKEN' ? openerBefore(text, pos) : undefined;
  if (unclosed) {
    const at = lc.linePos(unclosed.offset);
    return { line: at.line, column: at.col, message: `YAML syntax: ${unclosed.what} opened here is never closed` };
  }
  const at = lc.linePos(pos);
  return { line: at.line, column: at.col, message: `YAML syntax: ${firstLine(err.message)}` };
}

function firstLine(msg: string): string {
  return msg.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

/** The last unterminated flow collection or quoted scalar that starts before `pos`. */
function openerBefore(text: string, pos: number): Opener | undefined {
  let best: Opener | undefined;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const t = node as { type?: string; offset?: number; source?: string; start?: { source?: string }; end?: { type?: string }[] };
    if (typeof t.offset === 'number' && t.offset <= pos && (!best || t.offset > best.offset)) {
      if (t.type === 'flow-collection' && !t.end?.some((e) => e.type === 'flow-map-end' || e.type === 'flow-seq-end')) {
        best = { offset: t.offset, what: t.start?.source === '[' ? 'the "[" of this list' : 'the "{" of this mapping' };
      } else if ((t.type === 'double-quoted-scalar' || t.type === 'single-quoted-scalar') && !closedQuote(t.source ?? '')) {
        best = { offset: t.offset, what: `the ${t.type === 'double-quoted-scalar' ? 'double' : 'single'} quote` };
      }
    }
    for (const v of Object.values(node)) if (v !== null && typeof v === 'object') visit(v);
  };
  try {
    for (const token of new Parser().parse(text)) visit(token);
  } catch {
    return undefined;
  }
  return best;
}

function closedQuote(src: string): boolean {
  const q = src[0];
  if (src.length < 2 || !src.endsWith(q)) return false;
  if (q === "'") return true; // '' inside is an escaped quote, and the scalar still ends on one
  let backslashes = 0;
  for (let i = src.length - 2; i > 0 && src[i] === '\\'; i--) backslashes++;
  return backslashes % 2 === 0;
}
