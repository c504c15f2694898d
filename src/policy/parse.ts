/**
 * The policy file parser: YAML in, a validated Policy (or every problem found) out. Strict: unknown
 * fields, wrong types, aliases and multiple documents are errors, each named `file:line: field`.
 * No file system here; the caller hands over the bytes and a resolver for keys and trust roots.
 */
import { createHash } from 'node:crypto';
import { CST, Lexer, LineCounter, isAlias, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { Node } from 'yaml';
import { CountersignError } from '../errors.ts';
import { policyProblems } from './checks.ts';
import { imagePatternProblem } from './glob.ts';
import { anchoredRegExp } from './overlap.ts';
import { GITHUB_WORKFLOW_CLAIMS } from '../verify/types.ts';
import type {
  DockerReferenceMatch,
  Policy,
  PolicyMode,
  PolicyProblem,
  PolicyResolver,
  PolicySigner,
  StringMatcher,
  TlogRequirement,
} from './types.ts';
import { formatProblem } from './types.ts';

/** Policy files are small; anything bigger is a mistake (or an attack on the parser). */
export const MAX_POLICY_BYTES = 256 * 1024;

/**
 * A policy nests about five levels deep. yaml's composer recurses once per level and slows down
 * with depth, so a file of 100k `[` takes seconds and ends in a stack overflow: refuse deep nesting
 * before composing. (Aliases are never expanded: the reader walks the AST and refuses them, so
 * yaml's toJS-only `maxAliasCount` has nothing to guard here.)
 */
export const MAX_POLICY_NESTING = 32;

/**
 * N of M names people and keys, a handful of them. The overlap check compares every pair of
 * signers, so thousands (a 256 KiB file holds ~3500) took seconds and their ~6 million problems
 * overflowed the stack.
 */
export const MAX_POLICY_SIGNERS = 32;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u;
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/u;

export interface PolicyLint {
  /** Present only when there are no problems. */
  readonly policy?: Policy;
  readonly problems: readonly PolicyProblem[];
}

/** `sha256:<hex>` over the exact bytes: what decisions record as the policy version. */
export function policyContentHash(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

type Entries = Map<string, { key: Node; value: unknown }>;

class Reader {
  readonly problems: PolicyProblem[] = [];
  readonly lines = new Map<string, number>();
  readonly file: string;
  readonly counter: LineCounter;
  constructor(file: string, counter: LineCounter) {
    this.file = file;
    this.counter = counter;
  }

  lineOf(node: unknown): number | undefined {
    if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
    const range = (node as Node).range;
    return range ? this.counter.linePos(range[0]).line : undefined;
  }

  problem(node: unknown, field: string, message: string): void {
    const line = this.lineOf(node);
    this.problems.push(
      line === undefined ? { file: this.file, field, message } : { file: this.file, line, field, message },
    );
  }

  /** A mapping with only the allowed keys; records each key's line under `field.key`. */
  map(node: unknown, field: string, allowed: readonly string[]): Entries | undefined {
    if (!isMap(node)) {
      this.problem(node, field, `must be a mapping, got ${describe(node)}`);
      return undefined;
    }
    const entries: Entries = new Map();
    for (const pair of node.items) {
      const key = pair.key;
      if (!isScalar(key) || typeof key.value !== 'string') {
        this.problem(key ?? node, field, 'keys must be strings');
        continue;
      }
      const name = key.value;
      const path = field === '' ? name : `${field}.${name}`;
      if (!allowed.includes(name)) {
        this.problem(key, path, `unknown field (allowed: ${allowed.join(', ')})`);
        continue;
      }
      const line = this.lineOf(key);
      if (line !== undefined) this.lines.set(path, line);
      entries.set(name, { key, value: pair.value });
    }
    return entries;
  }

  /** The value of a scalar; undefined (reported) otherwise. An absent node was reported as missing by the caller. */
  scalar(node: unknown, field: string): unknown {
    if (node === undefined) return undefined;
    if (node === null) {
      this.problem(undefined, field, 'has no value');
      return undefined;
    }
    if (isAlias(node)) {
      this.problem(node, field, 'aliases are not allowed');
      return undefined;
    }
    if (!isScalar(node)) {
      this.problem(node, field, `must be a scalar, got ${describe(node)}`);
      return undefined;
    }
    return node.value;
  }

  string(node: unknown, field: string, pattern?: RegExp, what?: string): string | undefined {
    const v = this.scalar(node, field);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      this.problem(
        node,
        field,
        `must be a string, got ${typeof v === 'object' ? 'null' : typeof v} (quote it)`,
      );
      return undefined;
    }
    if (v === '') {
      this.problem(node, field, 'must not be empty');
      return undefined;
    }
    if (pattern !== undefined && !pattern.test(v)) {
      this.problem(node, field, `"${shown(v)}" is not a valid ${what ?? 'value'}`);
      return undefined;
    }
    return v;
  }

  boolean(node: unknown, field: string): boolean | undefined {
    const v = this.scalar(node, field);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.problem(node, field, 'must be true or false');
      return undefined;
    }
    return v;
  }

  integer(node: unknown, field: string): number | undefined {
    const v = this.scalar(node, field);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      this.problem(node, field, 'must be an integer');
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(node: unknown, field: string, values: readonly T[]): T | undefined {
    const v = this.scalar(node, field);
    if (v === undefined) return undefined;
    const found = values.find((x) => x === v);
    if (found === undefined) this.problem(node, field, `must be one of ${values.join(', ')}`);
    return found;
  }

  list(node: unknown, field: string): readonly unknown[] | undefined {
    if (!isSeq(node)) {
      this.problem(node, field, `must be a list, got ${describe(node)}`);
      return undefined;
    }
    node.items.forEach((item, i) => {
      const line = this.lineOf(item);
      if (line !== undefined) this.lines.set(`${field}[${i}]`, line);
    });
    return node.items;
  }

  regexp(node: unknown, field: string): string | undefined {
    const v = this.string(node, field);
    if (v === undefined) return undefined;
    try {
      anchoredRegExp(v);
      return v;
    } catch (e: unknown) {
      this.problem(node, field, `invalid regular expression: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }
}

/** A value as quoted in a problem: long enough to recognise, short enough to read. */
function shown(value: string): string {
  return value.length <= 80 ? value : `${value.slice(0, 77)}...`;
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return 'an alias';
  if (isScalar(node)) return node.value === null ? 'null' : typeof node.value;
  return 'something else';
}

const POLICY_FIELDS = [
  'name',
  'images',
  'signers',
  'threshold',
  'required',
  'mode',
  'matchDockerReference',
  'default',
  'allowUnsafeOverlappingSigners',
] as const;
const SIGNER_FIELDS = ['name', 'key', 'keyless', 'certificate', 'trustRoot', 'tlog', 'annotations'] as const;
const GITHUB_CLAIMS = GITHUB_WORKFLOW_CLAIMS;
const KEYLESS_FIELDS = [
  'trustRoot',
  'identity',
  'identityRegexp',
  'issuer',
  'issuerRegexp',
  ...GITHUB_CLAIMS,
] as const;
const CERTIFICATE_FIELDS = ['trustRoot', 'identity', 'identityRegexp'] as const;

/** Every problem in one policy file; the policy itself when there is none. */
export function lintPolicy(file: string, bytes: Uint8Array, resolver: PolicyResolver): PolicyLint {
  const fail = (message: string, line?: number): PolicyLint => ({
    problems: [line === undefined ? { file, field: '', message } : { file, line, field: '', message }],
  });
  if (bytes.byteLength > MAX_POLICY_BYTES) return fail(`file is larger than ${MAX_POLICY_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('file is not valid UTF-8');
  }
  const deep = tooDeepAt(text);
  if (deep !== undefined) return fail(`YAML nesting deeper than ${MAX_POLICY_NESTING} levels`, deep);
  const counter = new LineCounter();
  // Duplicate keys are found below: yaml's own uniqueKeys compares every key with every other one
  // (a mapping of 20 000 keys took seconds).
  const docs = parseAllDocuments(text, { lineCounter: counter, uniqueKeys: false, prettyErrors: false });
  if (!Array.isArray(docs) || docs.length === 0) return fail('file holds no policy');
  if (docs.length > 1) {
    const second = docs[1]?.contents?.range[0];
    return fail(
      'one policy per file (found several YAML documents)',
      second === undefined ? undefined : counter.linePos(second).line,
    );
  }
  const doc = docs[0];
  if (doc === undefined) return fail('file holds no policy');
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => ({
        file,
        line: counter.linePos(e.pos[0]).line,
        field: '',
        message: `YAML: ${e.message.split('\n')[0] ?? e.code}`,
      })),
    };
  }
  const duplicates = duplicateKeyLines(doc.contents, counter);
  if (duplicates.length > 0) {
    return {
      problems: duplicates.map((line) => ({
        file,
        line,
        field: '',
        message: 'YAML: Map keys must be unique',
      })),
    };
  }
  const r = new Reader(file, counter);
  const draft = readPolicy(r, doc.contents, file);
  const problems = [...r.problems];
  if (draft !== undefined && r.problems.length === 0) {
    problems.push(...policyProblems(draft, resolver, (field) => nearestLine(r.lines, field)));
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  if (problems.length > 0 || draft === undefined) return { problems };
  return { policy: { ...draft, contentHash: policyContentHash(bytes) }, problems: [] };
}

/** Lines of keys repeated within one mapping: one Set per mapping, an explicit stack, linear. */
function duplicateKeyLines(root: unknown, counter: LineCounter): number[] {
  const lines: number[] = [];
  const stack: unknown[] = [root];
  for (let node = stack.pop(); node !== undefined || stack.length > 0; node = stack.pop()) {
    if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    } else if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = pair.key;
        const id: unknown = isScalar(key) ? key.value : key;
        if (seen.has(id)) {
          const at = isScalar(key) ? key.range?.[0] : undefined;
          if (at !== undefined) lines.push(counter.linePos(at).line);
        }
        seen.add(id);
        stack.push(pair.value);
      }
    }
  }
  return lines.sort((a, b) => a - b);
}

/**
 * The line where nesting first exceeds the limit, found with yaml's own lexer (linear, iterative,
 * so quoted and plain scalars are told apart exactly as the parser will). Depth is the number of
 * open flow collections plus the block indicators (`-`, `?`, `:`) written on one line, which bounds
 * compact nesting such as `- - - x`; indentation-only nesting is bounded by MAX_POLICY_BYTES.
 */
function tooDeepAt(text: string): number | undefined {
  let line = 1;
  let flow = 0;
  let compact = 0;
  for (const token of new Lexer().lex(text)) {
    switch (CST.tokenType(token)) {
      case 'flow-map-start':
      case 'flow-seq-start':
        flow++;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        flow = Math.max(0, flow - 1);
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        if (flow === 0) compact++;
        break;
      default:
        break;
    }
    if (flow + compact > MAX_POLICY_NESTING) return line;
    for (let i = token.indexOf('\n'); i !== -1; i = token.indexOf('\n', i + 1)) {
      line++;
      compact = 0;
    }
  }
  return undefined;
}

/** The policy in a file, or CountersignError('POLICY_INVALID') listing every problem. */
export function parsePolicy(file: string, bytes: Uint8Array, resolver: PolicyResolver): Policy {
  const { policy, problems } = lintPolicy(file, bytes, resolver);
  if (policy === undefined) throw invalid(problems);
  return policy;
}

/** The line of a field, else of its closest written parent (a defaulted `tlog` is on its signer's). */
function nearestLine(lines: ReadonlyMap<string, number>, field: string): number | undefined {
  for (let f = field; f !== ''; f = f.replace(/(\.[^.[\]]*|\[\d+\])$/u, '')) {
    const line = lines.get(f);
    if (line !== undefined) return line;
    if (!/(\.[^.[\]]*|\[\d+\])$/u.test(f)) break;
  }
  return undefined;
}

export function invalid(problems: readonly PolicyProblem[]): CountersignError {
  return new CountersignError('POLICY_INVALID', problems.map(formatProblem).join('\n'));
}

function readPolicy(r: Reader, root: unknown, file: string): Omit<Policy, 'contentHash'> | undefined {
  if (root === null || root === undefined) {
    r.problem(undefined, '', 'file holds no policy');
    return undefined;
  }
  const e = r.map(root, '', POLICY_FIELDS);
  if (e === undefined) return undefined;
  const need = (field: string): unknown => {
    const entry = e.get(field);
    if (entry === undefined) r.problem(root, field, 'missing');
    return entry?.value;
  };

  const name = r.string(need('name'), 'name', NAME, 'name ([A-Za-z0-9._-], at most 64)');
  const isDefault = e.has('default') ? r.boolean(e.get('default')?.value, 'default') : false;

  let images: string[] | undefined = [];
  const imagesNode = e.get('images');
  if (imagesNode === undefined) {
    if (isDefault !== true) r.problem(root, 'images', 'missing (only a default policy may omit it)');
  } else {
    images = readImages(r, imagesNode.value, isDefault === true);
  }

  const signersNode = need('signers');
  const signers: PolicySigner[] = [];
  let signersOk = true;
  if (signersNode !== undefined) {
    const items = r.list(signersNode, 'signers');
    if (items === undefined) signersOk = false;
    else if (items.length === 0) {
      r.problem(signersNode, 'signers', 'at least one signer is needed');
      signersOk = false;
    } else if (items.length > MAX_POLICY_SIGNERS) {
      r.problem(signersNode, 'signers', `at most ${MAX_POLICY_SIGNERS} signers (found ${items.length})`);
      signersOk = false;
    }
    if (signersOk)
      items?.forEach((item, i) => {
        const s = readSigner(r, item, `signers[${i}]`);
        if (s === undefined) signersOk = false;
        else signers.push(s);
      });
  }

  const threshold = e.has('threshold') ? r.integer(e.get('threshold')?.value, 'threshold') : signers.length;
  let required: string[] | undefined = [];
  const requiredNode = e.get('required');
  if (requiredNode !== undefined) {
    const items = r.list(requiredNode.value, 'required');
    required = items?.flatMap((item, i) => r.string(item, `required[${i}]`) ?? []);
    if (items !== undefined && required !== undefined && required.length !== items.length)
      required = undefined;
  }
  const mode: PolicyMode | undefined = e.has('mode')
    ? r.oneOf(e.get('mode')?.value, 'mode', ['enforce', 'warn'] as const)
    : 'enforce';
  const matchDockerReference = readDockerReferenceMatch(r, e.get('matchDockerReference')?.value);
  const allowUnsafe = e.has('allowUnsafeOverlappingSigners')
    ? r.boolean(e.get('allowUnsafeOverlappingSigners')?.value, 'allowUnsafeOverlappingSigners')
    : false;

  if (
    name === undefined ||
    images === undefined ||
    !signersOk ||
    threshold === undefined ||
    required === undefined ||
    mode === undefined ||
    matchDockerReference === undefined ||
    isDefault === undefined ||
    allowUnsafe === undefined
  ) {
    return undefined;
  }
  return {
    name,
    images,
    signers,
    threshold,
    required,
    mode,
    matchDockerReference,
    isDefault,
    allowUnsafeOverlappingSigners: allowUnsafe,
    source: file,
  };
}

function readImages(r: Reader, node: unknown, isDefault: boolean): string[] | undefined {
  const items = r.list(node, 'images');
  if (items === undefined) return undefined;
  if (items.length === 0 && !isDefault) {
    r.problem(node, 'images', 'at least one pattern is needed');
    return undefined;
  }
  let ok = true;
  const images: string[] = [];
  for (const [i, item] of items.entries()) {
    const field = `images[${i}]`;
    const p = r.string(item, field);
    const why = p === undefined ? 'missing' : imagePatternProblem(p);
    if (p === undefined || why !== undefined) {
      if (p !== undefined && why !== undefined) r.problem(item, field, `${why}: "${shown(p)}"`);
      ok = false;
    } else {
      images.push(p);
    }
  }
  return ok ? images : undefined;
}

function readDockerReferenceMatch(r: Reader, node: unknown): DockerReferenceMatch | undefined {
  if (node === undefined) return false;
  const v = r.scalar(node, 'matchDockerReference');
  if (v === false || v === 'repository') return v;
  if (v !== undefined) r.problem(node, 'matchDockerReference', 'must be false or repository');
  return undefined;
}

function readSigner(r: Reader, node: unknown, at: string): PolicySigner | undefined {
  const e = r.map(node, at, SIGNER_FIELDS);
  if (e === undefined) return undefined;
  const nameEntry = e.get('name');
  if (nameEntry === undefined) r.problem(node, `${at}.name`, 'missing');
  const name = r.string(nameEntry?.value, `${at}.name`, NAME, 'signer name ([A-Za-z0-9._-], at most 64)');

  const kinds = (['key', 'keyless', 'certificate'] as const).filter((k) => e.has(k));
  const kind = kinds[0];
  if (kinds.length !== 1 || kind === undefined) {
    r.problem(
      node,
      at,
      `needs exactly one of key, keyless, certificate (found ${kinds.length === 0 ? 'none' : kinds.join(', ')})`,
    );
    return undefined;
  }
  let tlog: TlogRequirement | undefined = kind === 'keyless' ? 'required' : 'optional';
  const tlogEntry = e.get('tlog');
  if (tlogEntry !== undefined)
    tlog = r.oneOf(tlogEntry.value, `${at}.tlog`, ['required', 'optional'] as const);
  const annotations = readAnnotations(r, e.get('annotations')?.value, `${at}.annotations`);
  const trustRootEntry = e.get('trustRoot');
  if (trustRootEntry !== undefined && kind !== 'key') {
    r.problem(trustRootEntry.key, `${at}.trustRoot`, `belongs inside ${kind}`);
    return undefined;
  }
  const kindValue = e.get(kind)?.value;
  const field = `${at}.${kind}`;

  let signer: PolicySigner | undefined;
  if (name === undefined || tlog === undefined || annotations === undefined) return undefined;
  switch (kind) {
    case 'key': {
      const key = r.string(kindValue, field, FILE_NAME, 'key file name');
      const trustRoot =
        trustRootEntry === undefined
          ? undefined
          : r.string(trustRootEntry.value, `${at}.trustRoot`, FILE_NAME, 'trust root name');
      if (key === undefined || (trustRootEntry !== undefined && trustRoot === undefined)) return undefined;
      signer =
        trustRoot === undefined
          ? { kind, name, key, tlog, annotations }
          : { kind, name, key, trustRoot, tlog, annotations };
      break;
    }
    case 'keyless': {
      const k = r.map(kindValue, field, KEYLESS_FIELDS);
      if (k === undefined) return undefined;
      const trustRoot = readTrustRoot(r, k, kindValue, field);
      const identity = readMatcher(r, k, kindValue, field, 'identity');
      const issuer = readMatcher(r, k, kindValue, field, 'issuer');
      const claims: Partial<Record<(typeof GITHUB_CLAIMS)[number], string>> = {};
      let claimsOk = true;
      for (const claim of GITHUB_CLAIMS) {
        const entry = k.get(claim);
        if (entry === undefined) continue;
        const v = r.string(entry.value, `${field}.${claim}`);
        if (v === undefined) claimsOk = false;
        else claims[claim] = v;
      }
      if (trustRoot === undefined || identity === undefined || issuer === undefined || !claimsOk)
        return undefined;
      signer = { kind, name, trustRoot, identity, issuer, ...claims, tlog, annotations };
      break;
    }
    case 'certificate': {
      const k = r.map(kindValue, field, CERTIFICATE_FIELDS);
      if (k === undefined) return undefined;
      const trustRoot = readTrustRoot(r, k, kindValue, field);
      const identity = readMatcher(r, k, kindValue, field, 'identity');
      if (trustRoot === undefined || identity === undefined) return undefined;
      signer = { kind, name, trustRoot, identity, tlog, annotations };
      break;
    }
  }
  return signer;
}

function readTrustRoot(r: Reader, k: Entries, node: unknown, field: string): string | undefined {
  const entry = k.get('trustRoot');
  if (entry === undefined) {
    r.problem(node, `${field}.trustRoot`, 'missing');
    return undefined;
  }
  return r.string(entry.value, `${field}.trustRoot`, FILE_NAME, 'trust root name');
}

/** `identity` xor `identityRegexp` (or issuer likewise). */
function readMatcher(
  r: Reader,
  k: Entries,
  node: unknown,
  field: string,
  what: 'identity' | 'issuer',
): StringMatcher | undefined {
  const exact = k.get(what);
  const regexp = k.get(`${what}Regexp`);
  if ((exact === undefined) === (regexp === undefined)) {
    r.problem(node, `${field}.${what}`, `needs exactly one of ${what}, ${what}Regexp`);
    return undefined;
  }
  if (exact !== undefined) {
    const v = r.string(exact.value, `${field}.${what}`);
    return v === undefined ? undefined : { exact: v };
  }
  const v = r.regexp(regexp?.value, `${field}.${what}Regexp`);
  return v === undefined ? undefined : { regexp: v };
}

function readAnnotations(r: Reader, node: unknown, field: string): Record<string, string> | undefined {
  if (node === undefined) return {};
  if (!isMap(node)) {
    r.problem(node, field, `must be a mapping of key: value, got ${describe(node)}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  let ok = true;
  for (const pair of node.items) {
    const key = pair.key;
    if (!isScalar(key) || typeof key.value !== 'string' || key.value === '') {
      r.problem(key ?? node, field, 'annotation keys must be non-empty strings');
      ok = false;
      continue;
    }
    const v = r.string(pair.value, `${field}.${key.value}`);
    if (v === undefined) ok = false;
    else
      Object.defineProperty(out, key.value, {
        value: v,
        enumerable: true,
        writable: false,
        configurable: false,
      });
  }
  return ok ? out : undefined;
}
