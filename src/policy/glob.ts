/**
 * Image patterns: globs over normalised references `registry/repository`, always anchored.
 *
 * - Segments are separated by `/`.
 * - `*` matches any run of characters within one segment (never `/`), the empty run included.
 * - `**` as a whole segment matches any number of whole segments, zero included, except as the
 *   last segment, where it needs at least one (gitignore's rule): `reg/vendor/**` matches everything
 *   inside `reg/vendor` but not `reg/vendor` itself, while a `**` between `reg` and `algo` also
 *   matches `reg/algo`.
 * - Every other character matches itself, case-sensitively (references are normalised first).
 * No regular expressions are built, so no pattern can be slow or mean more than it says.
 */

/**
 * Longest pattern accepted. A registry name is at most 255 characters (distribution's reference
 * grammar) and layout paths are short; matching recurses once per segment, so a 200 KiB pattern of
 * `**` segments overflowed the stack at evaluation time.
 */
export const MAX_IMAGE_PATTERN_LENGTH = 1024;

/** Why a pattern is malformed, or undefined when it is fine. */
export function imagePatternProblem(pattern: string): string | undefined {
  if (pattern === '') return 'empty pattern';
  if (pattern.length > MAX_IMAGE_PATTERN_LENGTH)
    return `pattern longer than ${MAX_IMAGE_PATTERN_LENGTH} characters`;
  if (/\s/u.test(pattern)) return 'pattern contains white space';
  for (const segment of pattern.split('/')) {
    if (segment === '') return 'empty path segment (leading, trailing or double "/")';
    if (segment.includes('**') && segment !== '**') return '"**" must be a whole path segment';
  }
  return undefined;
}

/** Whether `name` (normalised `registry/repository`) matches `pattern` as a whole. */
export function matchImagePattern(pattern: string, name: string): boolean {
  const p = pattern.split('/');
  const n = name.split('/');
  // memo[i][j]: pattern segments from i match name segments from j. Sizes are tiny; memo keeps the
  // worst case (several `**`) polynomial.
  const memo = new Map<number, boolean>();
  const width = n.length + 1;
  const go = (i: number, j: number): boolean => {
    const key = i * width + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    const seg = p[i];
    if (seg === undefined) {
      result = j === n.length;
    } else if (seg === '**') {
      const last = i === p.length - 1;
      result = false;
      for (let k = last ? j + 1 : j; k <= n.length && !result; k++) result = go(i + 1, k);
    } else {
      const part = n[j];
      result = part !== undefined && matchSegment(seg, part) && go(i + 1, j + 1);
    }
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

/** `*` wildcard match within one segment, iterative with backtracking to the last star. */
function matchSegment(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star !== -1) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}
