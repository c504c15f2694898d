/**
 * The one place user-supplied regular expressions are compiled (identity and issuer patterns).
 * RE2 semantics through re2js: matching is linear in the input, so a hostile pattern such as
 * `(a+)+b` cannot hang the appliance, and the syntax is the one cosign (Go, RE2) accepts.
 * Patterns are always anchored: the whole value must match.
 */
import { RE2JS } from 're2js';

/** Longest pattern accepted: identities are short, and compile time grows with the pattern. */
export const MAX_PATTERN_LENGTH = 1024;
/**
 * Largest compiled program accepted. Matching is linear in the input but proportional to the
 * program, and a short pattern such as `(\pL|\pN){999}` compiles to thousands of instructions.
 */
export const MAX_PROGRAM_SIZE = 2000;

export interface AnchoredPattern {
  /** The pattern as the user wrote it. */
  readonly source: string;
  test(value: string): boolean;
}

/** Compiles `^(?:pattern)$`. Throws an Error whose message says what is wrong with the pattern. */
export function anchoredRegExp(pattern: string): AnchoredPattern {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new Error(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(`^(?:${pattern})$`);
  } catch (e: unknown) {
    throw new Error(e instanceof Error ? e.message : String(e));
  }
  if (compiled.programSize() > MAX_PROGRAM_SIZE) {
    throw new Error(
      `pattern too complex (${compiled.programSize()} instructions, at most ${MAX_PROGRAM_SIZE})`,
    );
  }
  return { source: pattern, test: (value: string) => compiled.matches(value) };
}
