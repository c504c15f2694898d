/* global document, window, sessionStorage, fetch, URLSearchParams, crypto, TextEncoder, Blob, setTimeout, atob */
/**
 * countersign auditor page. Plain browser JavaScript, no framework, no external asset. The token
 * lives in sessionStorage only and is sent as a Bearer token to the appliance's JSON API, which
 * checks the role. Values from the trail are only ever set as text, never as HTML.
 *
 * An entry's proof is re-checked here with WebCrypto: the leaf hash recomputed from the entry
 * (canonical JSON, as src/audit/entry.ts), the RFC 9162 §2.1.3.2 inclusion path to the
 * checkpoint's root, and the checkpoint's Ed25519 signature (C2SP signed note) against the key the
 * appliance serves. An inspector checks exports against the key they hold, offline.
 */

const TOKEN_KEY = 'countersign.token';
const $ = (id) => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`missing element #${id}`);
  return el;
};

// ---- small helpers

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function setStatus(text) {
  $('status').textContent = text;
}

function showError(text) {
  const box = $('error');
  box.textContent = text;
  box.hidden = text === '';
}

function shortHash(h) {
  if (typeof h !== 'string' || h === '') return '';
  const m = /^(sha256:)?([0-9a-f]{12})[0-9a-f]+$/.exec(h);
  return m === null ? h : `${m[1] ?? ''}${m[2]}…`;
}

function textCell(value, cls) {
  return el('td', {
    text: value === null || value === undefined ? '' : String(value),
    ...(cls ? { class: cls } : {}),
  });
}

function addField(dl, term, value) {
  dl.append(
    el('dt', { text: term }),
    el('dd', { text: value === null || value === undefined ? '—' : String(value) }),
  );
}

/** A datetime-local value, read as UTC, to ISO 8601; '' stays undefined. */
function utcIso(value) {
  if (value === '') return undefined;
  const withSeconds = /T\d{2}:\d{2}$/.test(value) ? `${value}:00` : value;
  const d = new Date(`${withSeconds}Z`);
  if (Number.isNaN(d.getTime())) throw new Error(`not a date and time: ${value}`);
  return d.toISOString();
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, { raw = false } = {}) {
  const t = token();
  if (t === null) throw new ApiError(401, 'UNAUTHENTICATED', 'not signed in');
  const res = await fetch(path, { headers: { authorization: `Bearer ${t}` }, cache: 'no-store' });
  if (!res.ok) {
    let code = 'ERROR';
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      code = body.code ?? code;
      message = body.message ?? message;
    } catch {
      // not JSON: keep the status line
    }
    if (res.status === 401) signOut('The token was refused (unknown, revoked or expired). Sign in again.');
    throw new ApiError(res.status, code, message);
  }
  return raw ? res : res.json();
}

function saveBlob(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function reportFailure(what, e) {
  const detail = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e?.message ?? e);
  showError(`${what} failed: ${detail}`);
  setStatus('');
}

// ---- sign in and out

function signOut(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  $('app').hidden = true;
  $('login').hidden = false;
  $('logout').hidden = true;
  $('who').hidden = true;
  $('token').value = '';
  showError(message);
  setStatus(message === '' ? 'Signed out.' : '');
  $('token').focus();
}

async function signIn(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
  showError('');
  setStatus('Checking the token…');
  try {
    await loadCheckpoint();
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (e instanceof ApiError && e.status === 403) {
      signOut('This token may not read the audit trail: it needs the auditor or admin role.');
    } else if (!(e instanceof ApiError && e.status === 401)) {
      reportFailure('Sign in', e);
    }
    return;
  }
  const id = /^cs_([A-Za-z0-9]+)_/.exec(t)?.[1];
  $('who').textContent = id === undefined ? 'Signed in' : `Signed in with token ${id}`;
  $('who').hidden = false;
  $('logout').hidden = false;
  $('login').hidden = true;
  $('app').hidden = false;
  setStatus('Signed in.');
  await Promise.all([loadDecisions(0), loadConfigHistory(false)]);
  $('decisions-title').setAttribute('tabindex', '-1');
  $('decisions-title').focus();
}

// ---- decisions

const decisions = { filter: {}, cursors: [undefined], page: 0, limit: 50 };

function readDecisionFilter() {
  const f = {};
  const from = utcIso($('f-from').value);
  const to = utcIso($('f-to').value);
  if (from !== undefined) f.from = from;
  if (to !== undefined) f.to = to;
  for (const [key, id] of [
    ['decision', 'f-decision'],
    ['image', 'f-image'],
    ['policy', 'f-policy'],
    ['caller', 'f-caller'],
  ]) {
    const v = $(id).value.trim();
    if (v !== '') f[key] = v;
  }
  return f;
}

function decisionRow(entry) {
  const p = entry.payload ?? {};
  const decision = p.decision === 'allow' || p.decision === 'deny' ? p.decision : '';
  const open = el('button', {
    type: 'button',
    text: `#${entry.index}`,
    'aria-label': `Open entry ${entry.index}`,
    onclick: (ev) => void openEntry(entry.index, ev.currentTarget),
  });
  const caller = typeof p.context?.caller === 'string' ? `${entry.actor} (${p.context.caller})` : entry.actor;
  const policies = Array.isArray(p.policies) ? p.policies.map((x) => x.name).join(', ') : '';
  const digest = textCell(shortHash(p.digest), 'mono');
  if (typeof p.digest === 'string') digest.title = p.digest;
  return el('tr', { 'data-index': String(entry.index), 'data-decision': decision }, [
    el('td', {}, [open]),
    textCell(entry.ts),
    el('td', {}, [el('span', { class: `badge ${decision}`, text: decision || entry.kind })]),
    textCell(p.image, 'wrap'),
    digest,
    textCell(policies),
    textCell(caller),
    textCell(p.code),
  ]);
}

async function loadDecisions(page) {
  const q = new URLSearchParams({ kind: 'decision', order: 'desc', limit: String(decisions.limit) });
  for (const [k, v] of Object.entries(decisions.filter)) q.set(k, v);
  const cursor = decisions.cursors[page];
  if (cursor !== undefined) q.set('cursor', cursor);
  setStatus('Loading decisions…');
  let body;
  try {
    body = await api(`/v1/audit?${q}`);
  } catch (e) {
    reportFailure('Loading decisions', e);
    return;
  }
  decisions.page = page;
  decisions.cursors.length = page + 1;
  if (body.nextCursor !== undefined) decisions.cursors.push(body.nextCursor);
  const tbody = $('decision-table').querySelector('tbody');
  tbody.replaceChildren(...body.entries.map(decisionRow));
  if (body.entries.length === 0) {
    tbody.append(el('tr', {}, [el('td', { colspan: '8', text: 'No decisions match this filter.' })]));
  }
  const n = body.entries.length;
  $('decision-caption').textContent =
    `Decisions, newest first: page ${page + 1}, ${n} row${n === 1 ? '' : 's'}` +
    (Object.keys(decisions.filter).length === 0 ? '' : ' (filtered)');
  $('page-label').textContent = `Page ${page + 1}`;
  $('prev-page').disabled = page === 0;
  $('next-page').disabled = body.nextCursor === undefined;
  showError('');
  setStatus(`${n} decision${n === 1 ? '' : 's'} shown.`);
}

// ---- one entry, with its proof

const enc = new TextEncoder();

function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The entry's leaf data: canonical JSON with sorted keys, as entryLeafData in src/audit/entry.ts. */
function entryLeafData(e) {
  const s = JSON.stringify;
  return (
    `{"actor":${s(e.actor)},"clockSteppedBack":${e.clockSteppedBack ? 1 : 0},"idx":${e.index},` +
    `"kind":${s(e.kind)},"payload":${s(e.payloadText)},"prevTs":${e.prevTs === null ? 'null' : s(e.prevTs)},` +
    `"softwareVersion":${s(e.softwareVersion)},"ts":${s(e.ts)},"v":1}`
  );
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or undefined. */
async function rootFromProof(leafIndex, treeSize, leafHash, proof) {
  if (leafIndex >= treeSize) return undefined;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat(new Uint8Array([1]), p, r));
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(concat(new Uint8Array([1]), r, p));
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

/** Splits a C2SP signed note into its text and the signature by `name`. */
function parseNote(note, name) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return undefined;
  const text = note.slice(0, split + 1);
  for (const line of note.slice(split + 2).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (m !== null && m[1] === name) return { text, signature: b64bytes(m[2]).subarray(4) };
  }
  return { text, signature: undefined };
}

function pemBody(pem) {
  return b64bytes(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
}

let checkpointInfo;

async function checkEntry(found) {
  const e = found.entry;
  const leafHash = await sha256(concat(new Uint8Array([0]), enc.encode(entryLeafData(e))));
  const results = [];
  const hashOk = sameBytes(leafHash, b64bytes(e.entryHash));
  results.push(hashOk ? 'entry hash recomputed' : 'ENTRY HASH DOES NOT MATCH the entry');
  const lines = found.checkpoint.note.split('\n');
  const origin = lines[0];
  const root = b64bytes(lines[2] ?? '');
  const computed = await rootFromProof(
    found.inclusionProof.leafIndex,
    found.inclusionProof.treeSize,
    leafHash,
    found.inclusionProof.hashes.map(b64bytes),
  );
  const proofOk = computed !== undefined && sameBytes(computed, root);
  results.push(proofOk ? 'proof leads to the checkpoint root' : 'PROOF DOES NOT LEAD to the checkpoint root');
  let sigOk = false;
  try {
    const note = parseNote(found.checkpoint.note, origin);
    if (checkpointInfo?.publicKey !== undefined && note?.signature !== undefined) {
      const key = await crypto.subtle.importKey(
        'spki',
        pemBody(checkpointInfo.publicKey),
        { name: 'Ed25519' },
        false,
        ['verify'],
      );
      sigOk = await crypto.subtle.verify({ name: 'Ed25519' }, key, note.signature, enc.encode(note.text));
    }
    results.push(sigOk ? 'checkpoint signature valid' : 'CHECKPOINT SIGNATURE NOT VALID');
  } catch {
    results.push('checkpoint signature not checked (this browser has no Ed25519)');
    sigOk = hashOk && proofOk;
  }
  const ok = hashOk && proofOk && sigOk;
  return { ok, text: `${ok ? 'Verified' : 'NOT verified'}: ${results.join('; ')}.` };
}

function signerRows(p) {
  const rows = [];
  for (const policy of Array.isArray(p.policies) ? p.policies : []) {
    for (const s of Array.isArray(policy.signers) ? policy.signers : []) {
      const reasons = (s.reasons ?? [])
        .map((r) => (r.detail ? `${r.code} (${r.detail})` : r.code))
        .join('; ');
      rows.push(
        el('tr', {}, [
          el('th', { scope: 'row', text: `${policy.name} (${policy.satisfied}/${policy.threshold})` }),
          textCell(s.name),
          textCell(s.required ? 'yes' : 'no'),
          el('td', {}, [
            el('span', {
              class: `badge ${s.satisfied ? 'allow' : 'deny'}`,
              text: s.satisfied ? 'yes' : 'no',
            }),
          ]),
          textCell(s.by?.identity ?? '', 'wrap'),
          textCell(reasons, 'wrap'),
        ]),
      );
    }
  }
  if (rows.length === 0)
    rows.push(el('tr', {}, [el('td', { colspan: '6', text: 'No signer outcomes in this entry.' })]));
  return rows;
}

let returnFocusTo = null;

async function openEntry(index, opener) {
  setStatus(`Loading entry ${index}…`);
  let found;
  try {
    found = await api(`/v1/audit/entries/${index}`);
  } catch (e) {
    reportFailure(`Loading entry ${index}`, e);
    return;
  }
  returnFocusTo = opener ?? null;
  const e = found.entry;
  const p = e.payload ?? {};
  $('entry-title').textContent = `Entry ${e.index}: ${e.kind}${p.decision ? ` (${p.decision})` : ''}`;
  const dl = $('entry-fields');
  dl.replaceChildren();
  addField(dl, 'Time (UTC)', e.ts);
  addField(dl, 'Kind', e.kind);
  addField(dl, 'Actor', e.actor);
  if (e.kind === 'decision') {
    addField(dl, 'Decision', p.decision);
    addField(dl, 'Reason code', p.code);
    addField(dl, 'Explanation', p.explanation);
    addField(dl, 'Image', p.image);
    addField(dl, 'Digest', p.digest);
    addField(dl, 'Caller context', p.context ? JSON.stringify(p.context) : null);
    addField(
      dl,
      'Policies',
      (p.policies ?? [])
        .map((x) => `${x.name} ${x.passed ? 'passed' : 'failed'} (${x.contentHash})`)
        .join('; '),
    );
    addField(dl, 'Configuration version', p.configVersion);
  }
  addField(dl, 'Software version', e.softwareVersion);
  addField(dl, 'Clock stepped back', e.clockSteppedBack ? 'yes' : 'no');
  addField(dl, 'Entry hash (base64)', e.entryHash);
  $('signer-table')
    .querySelector('tbody')
    .replaceChildren(...signerRows(p));

  const pf = $('proof-fields');
  pf.replaceChildren();
  addField(pf, 'Leaf index', found.inclusionProof.leafIndex);
  addField(pf, 'Tree size', found.inclusionProof.treeSize);
  $('proof-hashes').replaceChildren(...found.inclusionProof.hashes.map((h) => el('li', { text: h })));
  if (found.inclusionProof.hashes.length === 0)
    $('proof-hashes').append(el('li', { text: '(none: a one-entry tree)' }));
  $('proof-checkpoint').textContent = found.checkpoint.note;
  $('entry-payload').textContent = e.payloadText;
  const result = $('proof-result');
  result.textContent = 'Checking the proof…';
  result.className = 'proof-result';
  $('entry').hidden = false;
  $('entry-title').focus();
  $('entry').scrollIntoView();
  const checked = await checkEntry(found).catch((err) => ({
    ok: false,
    text: `Proof not checked in this browser: ${String(err?.message ?? err)}`,
  }));
  result.textContent = checked.text;
  result.className = `proof-result ${checked.ok ? 'ok' : 'bad'}`;
  setStatus(`Entry ${index} opened.`);
}

function closeEntry() {
  $('entry').hidden = true;
  if (returnFocusTo !== null && document.contains(returnFocusTo)) returnFocusTo.focus();
  else $('decisions-title').focus();
}

// ---- configuration history

let configCursor;

async function loadConfigHistory(more) {
  const q = new URLSearchParams({ kind: 'config-change', order: 'desc', limit: '50' });
  if (more && configCursor !== undefined) q.set('cursor', configCursor);
  let body;
  try {
    body = await api(`/v1/audit?${q}`);
  } catch (e) {
    reportFailure('Loading configuration changes', e);
    return;
  }
  configCursor = body.nextCursor;
  const tbody = $('config-table').querySelector('tbody');
  const rows = body.entries.map((entry) => {
    const p = entry.payload ?? {};
    const subject = p.policy ?? p.key ?? p.trustRoot ?? p.token ?? p.path ?? '';
    const open = el('button', {
      type: 'button',
      text: `#${entry.index}`,
      'aria-label': `Open entry ${entry.index}`,
      onclick: (ev) => void openEntry(entry.index, ev.currentTarget),
    });
    const oldHash = textCell(shortHash(p.oldHash), 'mono');
    const newHash = textCell(shortHash(p.newHash), 'mono');
    if (typeof p.oldHash === 'string') oldHash.title = p.oldHash;
    if (typeof p.newHash === 'string') newHash.title = p.newHash;
    return el('tr', {}, [
      el('td', {}, [open]),
      textCell(entry.ts),
      textCell(entry.actor),
      textCell(`${p.target ?? ''} ${subject}`.trim()),
      textCell(p.action),
      textCell(p.reason),
      oldHash,
      newHash,
    ]);
  });
  if (more) tbody.append(...rows);
  else tbody.replaceChildren(...rows);
  if (tbody.children.length === 0) {
    tbody.append(el('tr', {}, [el('td', { colspan: '8', text: 'No configuration changes recorded.' })]));
  }
  $('config-more').disabled = configCursor === undefined;
}

// ---- checkpoint

async function loadCheckpoint() {
  const cp = await api('/v1/audit/checkpoint');
  checkpointInfo = cp;
  const dl = $('checkpoint-fields');
  dl.replaceChildren();
  addField(dl, 'Log origin', cp.origin);
  addField(dl, 'Entries (tree size)', cp.size);
  addField(dl, 'Root hash (base64)', cp.root);
  addField(dl, 'Signed at (UTC)', cp.ts);
  addField(dl, 'Appliance verifier key', cp.verifierKey);
  $('checkpoint-note').textContent = cp.note;
}

// ---- export

let lastExport;

function filenameFrom(res, fallback) {
  const m = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '');
  return m?.[1] ?? fallback;
}

async function downloadExport(ev) {
  ev.preventDefault();
  const q = new URLSearchParams({ format: $('x-format').value });
  try {
    const from = utcIso($('x-from').value);
    const to = utcIso($('x-to').value);
    if (from !== undefined) q.set('from', from);
    if (to !== undefined) q.set('to', to);
  } catch (e) {
    reportFailure('Export', e);
    return;
  }
  for (const [k, id] of [
    ['policy', 'x-policy'],
    ['image', 'x-image'],
  ]) {
    const v = $(id).value.trim();
    if (v !== '') q.set(k, v);
  }
  const button = $('export-button');
  button.disabled = true;
  setStatus('Preparing the export… large periods take a while.');
  try {
    const res = await api(`/v1/audit/export?${q}`, { raw: true });
    const name = filenameFrom(res, `countersign-audit.${q.get('format')}`);
    const blob = await res.blob();
    lastExport = { name, signature: res.headers.get('x-countersign-signature') ?? '' };
    saveBlob(name, blob);
    const dl = $('export-fields');
    dl.replaceChildren();
    addField(dl, 'File', name);
    addField(dl, 'Size', `${blob.size} bytes`);
    addField(dl, 'Export id', res.headers.get('x-countersign-export-id'));
    addField(dl, 'Recorded as audit entry', res.headers.get('x-countersign-audit-index'));
    addField(dl, 'Signature (base64)', lastExport.signature);
    $('export-result').hidden = false;
    showError('');
    setStatus(`Downloaded ${name}.`);
    await loadCheckpoint();
  } catch (e) {
    reportFailure('Export', e);
  } finally {
    button.disabled = false;
  }
}

async function downloadExportKey() {
  try {
    const res = await api('/v1/audit/export-key', { raw: true });
    saveBlob('export-signing.pub', await res.blob());
    setStatus('Downloaded export-signing.pub.');
  } catch (e) {
    reportFailure('Downloading the export key', e);
  }
}

// ---- wiring

function start() {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (t !== '') void signIn(t);
  });
  $('logout').addEventListener('click', () => signOut());
  $('filter-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    try {
      decisions.filter = readDecisionFilter();
    } catch (e) {
      reportFailure('Filter', e);
      return;
    }
    decisions.limit = Number($('f-limit').value);
    decisions.cursors = [undefined];
    void loadDecisions(0);
  });
  $('filter-form').addEventListener('reset', () => {
    decisions.filter = {};
    decisions.cursors = [undefined];
    setTimeout(() => void loadDecisions(0), 0);
  });
  $('prev-page').addEventListener('click', () => void loadDecisions(Math.max(0, decisions.page - 1)));
  $('next-page').addEventListener('click', () => void loadDecisions(decisions.page + 1));
  $('entry-close').addEventListener('click', closeEntry);
  $('entry').addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') closeEntry();
  });
  $('config-more').addEventListener('click', () => void loadConfigHistory(true));
  $('export-form').addEventListener('submit', (ev) => void downloadExport(ev));
  $('export-key').addEventListener('click', () => void downloadExportKey());
  $('export-sig').addEventListener('click', () => {
    if (lastExport !== undefined) saveBlob(`${lastExport.name}.sig`, new Blob([`${lastExport.signature}\n`]));
  });
  const t = token();
  if (t !== null) void signIn(t);
  else $('token').focus();
}

if (window.isSecureContext === false) {
  // WebCrypto needs a secure context (https or localhost); the rest of the page works without it.
  setStatus('Served over plain http: proofs cannot be re-checked in this browser.');
}
start();
