/**
 * A small YAML reader for the subset that promptsource's template files use
 * (PyYAML `yaml.dump` output): block mappings and block sequences by
 * indentation, `!Tag` node tags (ignored, the node is kept), plain scalars
 * (possibly folded over several lines), single-quoted scalars (`''` escape)
 * and double-quoted scalars (backslash escapes, escaped line breaks), folded
 * the way PyYAML's scanner folds flow scalars (one line break → a space, n
 * empty lines → n newlines, an escaped break → nothing). Plain `null`/`~`/empty
 * → null, YAML 1.1 booleans (true/false/yes/no/on/off in PyYAML's spellings) →
 * booleans; everything else stays a string. Not supported (and reported with
 * the line number): block scalars (`|`, `>`), flow collections, anchors.
 *
 * Tested against PyYAML on the whole promptsource GLUE file.
 */

export type YamlValue = string | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  /** 1-based line number in the source */
  no: number;
  /** offset of the line's first character in the source */
  start: number;
  indent: number;
  /** content after the indentation, no line break */
  text: string;
}

const BOOL_TRUE = new Set(['yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']);
const BOOL_FALSE = new Set(['no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']);

function resolvePlain(s: string): YamlValue {
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  if (BOOL_TRUE.has(s)) return true;
  if (BOOL_FALSE.has(s)) return false;
  return s;
}

const ESCAPES: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b',
  ' ': ' ', '"': '"', '/': '/', '\\': '\\', N: '\x85', _: '\xa0', L: '\u2028', P: '\u2029',
};
const HEX_LEN: Record<string, number> = { x: 2, u: 4, U: 8 };

export class YamlError extends Error {}

export function parseYaml(src: string, file = '<yaml>'): YamlValue {
  const lines: Line[] = [];
  {
    let off = 0;
    const raw = src.split('\n');
    raw.forEach((l, i) => {
      const t = l.endsWith('\r') ? l.slice(0, -1) : l;
      const m = /^ */.exec(t)!;
      lines.push({ no: i + 1, start: off, indent: m[0].length, text: t.slice(m[0].length) });
      off += l.length + 1;
    });
  }
  const fail = (no: number, msg: string): never => {
    throw new YamlError(`${file}:${no}: ${msg}`);
  };
  const isBlank = (l: Line): boolean => l.text === '' || l.text.startsWith('#');
  let li = 0;
  const skipBlank = (): void => {
    while (li < lines.length && isBlank(lines[li])) li++;
  };

  /** Scans a quoted scalar starting at absolute offset `at` (the quote). Returns value and the offset after the closing quote. */
  const scanQuoted = (at: number, no: number): { value: string; end: number } => {
    const q = src[at];
    const dbl = q === '"';
    let p = at + 1;
    const chunks: string[] = [];
    const isBreak = (c: string | undefined): boolean => c === '\n' || c === '\r';
    const scanBreaks = (): string[] => {
      const breaks: string[] = [];
      for (;;) {
        while (src[p] === ' ' || src[p] === '\t') p++;
        if (isBreak(src[p])) {
          p += src[p] === '\r' && src[p + 1] === '\n' ? 2 : 1;
          breaks.push('\n');
        } else return breaks;
      }
    };
    for (;;) {
      // non-spaces
      for (;;) {
        const c = src[p];
        if (c === undefined) fail(no, `unterminated ${dbl ? 'double' : 'single'}-quoted scalar`);
        if (!dbl && c === "'" && src[p + 1] === "'") {
          chunks.push("'");
          p += 2;
        } else if ((!dbl && c === "'") || (dbl && c === '"')) {
          break;
        } else if (dbl && c === '\\') {
          const e = src[p + 1];
          if (e in ESCAPES) {
            chunks.push(ESCAPES[e]);
            p += 2;
          } else if (e in HEX_LEN) {
            const n = HEX_LEN[e];
            const hex = src.slice(p + 2, p + 2 + n);
            if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail(no, `bad escape \\${e}${hex}`);
            chunks.push(String.fromCodePoint(parseInt(hex, 16)));
            p += 2 + n;
          } else if (isBreak(e)) {
            p += 1;
            p += src[p] === '\r' && src[p + 1] === '\n' ? 2 : 1;
            chunks.push(...scanBreaks());
          } else {
            fail(no, `unknown escape \\${e}`);
          }
        } else if (c === ' ' || c === '\t' || isBreak(c)) {
          break;
        } else {
          chunks.push(c);
          p++;
        }
      }
      if (src[p] === q) {
        p++;
        break;
      }
      // spaces
      let ws = '';
      while (src[p] === ' ' || src[p] === '\t') ws += src[p++];
      const c = src[p];
      if (c === undefined) fail(no, 'unterminated quoted scalar');
      if (isBreak(c)) {
        p += c === '\r' && src[p + 1] === '\n' ? 2 : 1;
        const breaks = scanBreaks();
        if (breaks.length === 0) chunks.push(' ');
        chunks.push(...breaks);
      } else {
        chunks.push(ws);
      }
    }
    return { value: chunks.join(''), end: p };
  };

  /** Line index containing absolute offset `off`. */
  const lineAt = (off: number): number => {
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lines[mid].start <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };

  /**
   * A scalar value beginning at column `col` of line `li` (the text after `key: ` or `- `),
   * in a node whose parent indentation is `parentIndent`. Advances `li` past it.
   */
  const scalar = (text: string, col: number, parentIndent: number): YamlValue => {
    const line = lines[li];
    if (text.startsWith("'") || text.startsWith('"')) {
      const { value, end } = scanQuoted(line.start + col, line.no);
      const endLine = lineAt(end);
      const rest = src.slice(end, lines[endLine].start + lines[endLine].indent + lines[endLine].text.length).trim();
      if (rest !== '' && !rest.startsWith('#')) fail(lines[endLine].no, `unexpected text after quoted scalar: ${JSON.stringify(rest)}`);
      li = endLine + 1;
      return value;
    }
    if (text.startsWith('|') || text.startsWith('>')) fail(line.no, 'block scalars (| or >) are not supported');
    if (text.startsWith('[') || text.startsWith('{')) fail(line.no, 'flow collections are not supported');
    if (text.startsWith('&') || text.startsWith('*')) fail(line.no, 'anchors and aliases are not supported');
    // plain scalar, maybe folded over more-indented lines
    const stripComment = (s: string): string => {
      const k = s.search(/ #/);
      return (k >= 0 ? s.slice(0, k) : s).trimEnd();
    };
    let value = stripComment(text);
    li++;
    let pendingBreaks = 0;
    while (li < lines.length) {
      const l = lines[li];
      if (l.text === '') {
        pendingBreaks++;
        li++;
        continue;
      }
      if (l.indent <= parentIndent || l.text.startsWith('#')) break;
      if (/^(- |-$)/.test(l.text) && l.indent <= parentIndent) break;
      if (/(^|[^ ]): |:$/.test(l.text) && !/^['"]/.test(l.text)) {
        // a "key: value" line at deeper indent would be an error in YAML; stop here
        break;
      }
      value += pendingBreaks === 0 ? ' ' : '\n'.repeat(pendingBreaks);
      value += stripComment(l.text);
      pendingBreaks = 0;
      li++;
    }
    // blank lines consumed after the scalar are harmless
    return resolvePlain(value);
  };

  const node = (parentIndent: number): YamlValue => {
    skipBlank();
    if (li >= lines.length) return null;
    const l = lines[li];
    if (l.indent < parentIndent) return null;
    if (/^(- |-$)/.test(l.text)) return sequence(l.indent);
    if (l.indent <= parentIndent && parentIndent >= 0) return null;
    return mapping(l.indent);
  };

  const valueAfter = (rest: string, col: number, indent: number, isSeqItem: boolean): YamlValue => {
    let r = rest;
    let c = col;
    const tag = /^!\S*\s*/.exec(r);
    if (tag) {
      r = r.slice(tag[0].length);
      c += tag[0].length;
    }
    if (r === '' || r.startsWith('#')) {
      li++;
      skipBlank();
      if (li >= lines.length) return null;
      const n = lines[li];
      // a block sequence may sit at the same indentation as its mapping key
      if (!isSeqItem && n.indent === indent && /^(- |-$)/.test(n.text)) return sequence(indent);
      if (n.indent <= indent) return null;
      return node(indent);
    }
    return scalar(r, c, indent);
  };

  const mapping = (indent: number): { [key: string]: YamlValue } => {
    const out: { [key: string]: YamlValue } = {};
    for (;;) {
      skipBlank();
      if (li >= lines.length) break;
      const l = lines[li];
      if (l.indent < indent) break;
      if (l.indent > indent) fail(l.no, `unexpected indentation (${l.indent}, expected ${indent})`);
      if (/^(- |-$)/.test(l.text)) break;
      const m = /^([^'"#\s][^:]*?|'[^']*'|"[^"]*"):(?: |$)/.exec(l.text);
      if (!m) fail(l.no, `expected "key: value", got ${JSON.stringify(l.text)}`);
      let key = m![1];
      if (key.startsWith("'") || key.startsWith('"')) key = key.slice(1, -1);
      if (Object.prototype.hasOwnProperty.call(out, key)) fail(l.no, `duplicate key ${JSON.stringify(key)}`);
      const restStart = m![0].length;
      const rest = l.text.slice(restStart);
      out[key] = valueAfter(rest, l.indent + restStart, indent, false);
    }
    return out;
  };

  const sequence = (indent: number): YamlValue[] => {
    const out: YamlValue[] = [];
    for (;;) {
      skipBlank();
      if (li >= lines.length) break;
      const l = lines[li];
      if (l.indent !== indent || !/^(- |-$)/.test(l.text)) break;
      const rest = l.text === '-' ? '' : l.text.slice(2);
      if (/^[^'"#\s][^:]*?: /.test(rest) || /^[^'"#\s][^:]*?:$/.test(rest)) fail(l.no, 'mappings inside sequence items are not supported');
      out.push(valueAfter(rest, l.indent + 2, indent, true));
    }
    return out;
  };

  const root = node(-1);
  skipBlank();
  if (li < lines.length) fail(lines[li].no, `unexpected content ${JSON.stringify(lines[li].text)}`);
  return root;
}
