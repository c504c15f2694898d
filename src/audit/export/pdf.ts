/**
 * The PDF report for people (pdfkit, A4). Entries are seen once, in a stream, by ReportCollector,
 * which keeps counts and the first rows of each table up to fixed caps: a report over a million
 * entries takes the same memory as one over a thousand, and its tables point to the CSV and JSON
 * Lines exports for the rest. Sections: title page with the 21 CFR 11.50 signature manifestation
 * (printed name, UTC time, meaning), summary, decision table, configuration changes, signer and
 * key inventory, integrity.
 */
import PDFDocument from 'pdfkit';
import type { AuditEntry, JsonValue } from '../entry.ts';
import { entryFields, isJsonObject, parsePayload } from './fields.ts';
import type { ExportHeader } from './jsonl.ts';

export interface ReportLimits {
  /** Rows of the decision table (default 2000). */
  readonly decisionRows: number;
  /** Rows of the denial list and of the configuration history (default 500 each). */
  readonly denialRows: number;
  readonly changeRows: number;
  /** Distinct policies, images, reasons and signers counted one by one; more go under "(other)". */
  readonly distinctKeys: number;
}

export const DEFAULT_REPORT_LIMITS: ReportLimits = {
  decisionRows: 2000,
  denialRows: 500,
  changeRows: 500,
  distinctKeys: 1000,
};

interface Tally {
  allow: number;
  deny: number;
  other: number;
}

const OTHER = '(other)';

function bump(map: Map<string, Tally>, key: string, decision: string, cap: number): void {
  let k = key === '' ? '(none)' : key;
  if (!map.has(k) && map.size >= cap) k = OTHER;
  let t = map.get(k);
  if (t === undefined) {
    t = { allow: 0, deny: 0, other: 0 };
    map.set(k, t);
  }
  if (decision === 'allow') t.allow++;
  else if (decision === 'deny') t.deny++;
  else t.other++;
}

function count(map: Map<string, number>, key: string, cap: number): void {
  const k = !map.has(key) && map.size >= cap ? OTHER : key;
  map.set(k, (map.get(k) ?? 0) + 1);
}

type Row = readonly string[];

/** The reason code in a reason text (`vendor: SIGNATURE_INVALID ...` -> `SIGNATURE_INVALID`). */
function reasonCode(reason: string): string {
  return /\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b/.exec(reason)?.[0] ?? reason.slice(0, 80);
}

/** Sees every exported entry once and keeps what the report shows, within the limits. */
export class ReportCollector {
  readonly limits: ReportLimits;
  total = 0;
  readonly byKind = new Map<string, number>();
  readonly decisions: Tally = { allow: 0, deny: 0, other: 0 };
  readonly byPolicy = new Map<string, Tally>();
  readonly byImage = new Map<string, Tally>();
  readonly denialReasons = new Map<string, number>();
  readonly signers = new Map<string, number>();
  readonly decisionRows: Row[] = [];
  readonly denialRows: Row[] = [];
  readonly changeRows: Row[] = [];
  changes = 0;
  firstTs: string | undefined;
  lastTs: string | undefined;
  clockStepsBack = 0;

  constructor(limits: ReportLimits = DEFAULT_REPORT_LIMITS) {
    this.limits = limits;
  }

  add(entry: AuditEntry): void {
    this.total++;
    this.firstTs ??= entry.ts;
    this.lastTs = entry.ts;
    if (entry.clockSteppedBack) this.clockStepsBack++;
    count(this.byKind, entry.kind, this.limits.distinctKeys);
    const payload = parsePayload(entry);
    const f = entryFields(entry, payload);
    const cap = this.limits.distinctKeys;
    if (entry.kind === 'decision') {
      const d = f.decision;
      if (d === 'allow') this.decisions.allow++;
      else if (d === 'deny') this.decisions.deny++;
      else this.decisions.other++;
      if (f.policies.length === 0) bump(this.byPolicy, '', d, cap);
      for (const p of f.policies) bump(this.byPolicy, p.replace(/@.*$/, ''), d, cap);
      bump(this.byImage, f.image || f.digest, d, cap);
      const signers = payload['signers'];
      if (Array.isArray(signers)) {
        for (const s of signers as JsonValue[]) {
          const name = isJsonObject(s) ? (s['name'] ?? s['signer']) : s;
          if (typeof name === 'string') count(this.signers, name, cap);
        }
      }
      const image = [f.image, f.digest].filter((s) => s !== '').join('\n');
      if (this.decisionRows.length < this.limits.decisionRows) {
        this.decisionRows.push([String(entry.index), entry.ts, entry.actor, d, image, f.policies.join('\n')]);
      }
      if (d === 'deny') {
        for (const r of f.reasons.length === 0 ? ['(no reason recorded)'] : f.reasons) {
          count(this.denialReasons, reasonCode(r), cap);
        }
        if (this.denialRows.length < this.limits.denialRows) {
          this.denialRows.push([String(entry.index), entry.ts, image, f.reasons.join('\n')]);
        }
      }
    } else if (entry.kind === 'config-change') {
      this.changes++;
      if (this.changeRows.length < this.limits.changeRows) {
        const reason = typeof payload['reason'] === 'string' ? payload['reason'] : '';
        const what = [f.subject, typeof payload['action'] === 'string' ? payload['action'] : '']
          .filter((s) => s !== '')
          .join(': ');
        this.changeRows.push([
          String(entry.index),
          entry.ts,
          entry.actor,
          what,
          reason,
          `${f.oldHash || '-'}\n${f.newHash || '-'}`,
        ]);
      }
    }
  }
}

export interface InventoryItem {
  readonly name: string;
  readonly detail: string;
  readonly hash: string;
}

export interface ReportInput {
  readonly header: ExportHeader;
  readonly collected: ReportCollector;
  readonly checkpoint: { readonly size: number; readonly root: Uint8Array; readonly note: string };
  readonly applianceVerifierKey: string;
  readonly exportKeyFingerprint: string;
  /** Keys and trust roots from the configuration directory; empty when it has none. */
  readonly inventory: readonly InventoryItem[];
  readonly consistencyFrom?: number;
  readonly fileName: string;
}

// A4 in points (ISO 216: 210 x 297 mm).
const MARGIN = 42;
const PAGE_WIDTH = 595.28;
const CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN;

/**
 * The standard PDF fonts speak WinAnsi only; anything else would print as garbage, so it prints
 * as '?' instead (the CSV and JSONL keep the exact text).
 */
export function pdfSafe(text: string): string {
  return text.replace(/[^\n\x20-\x7e\u00a0-\u00ff\u2014\u2013\u2018\u2019\u201c\u201d\u2022]/gu, '?');
}

interface Column {
  readonly title: string;
  readonly width: number;
  readonly mono?: boolean;
}

class Writer {
  readonly doc: PDFKit.PDFDocument;
  pages = 0;
  private readonly footer: string;

  constructor(doc: PDFKit.PDFDocument, footer: string) {
    this.doc = doc;
    this.footer = pdfSafe(footer);
    doc.on('pageAdded', () => {
      this.pages++;
      this.drawFooter();
    });
  }

  private drawFooter(): void {
    const { doc } = this;
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc
      .font('Helvetica')
      .fontSize(7)
      .fillColor('#555555')
      .text(`${this.footer}   page ${this.pages}`, MARGIN, doc.page.height - 28, {
        width: CONTENT_WIDTH,
        align: 'center',
        lineBreak: false,
      });
    doc.page.margins.bottom = bottom;
    doc.fillColor('black').x = MARGIN;
    doc.y = MARGIN;
  }

  section(title: string): void {
    this.doc.addPage();
    this.heading(title, 16);
  }

  heading(title: string, size = 11): void {
    this.ensure(size * 3);
    this.doc.moveDown(0.4).font('Helvetica-Bold').fontSize(size).text(pdfSafe(title), MARGIN).moveDown(0.3);
  }

  paragraph(text: string, size = 9, font = 'Helvetica'): void {
    this.doc.font(font).fontSize(size).text(pdfSafe(text), MARGIN, undefined, { width: CONTENT_WIDTH });
    this.doc.moveDown(0.3);
  }

  /** Label: value lines. */
  fields(rows: readonly (readonly [string, string])[]): void {
    const { doc } = this;
    for (const [label, value] of rows) {
      doc.font('Helvetica').fontSize(9);
      const h = Math.max(12, doc.heightOfString(pdfSafe(value), { width: CONTENT_WIDTH - 130 }) + 3);
      this.ensure(h);
      const y = doc.y;
      doc.font('Helvetica-Bold').text(pdfSafe(label), MARGIN, y, { width: 125 });
      doc.font('Helvetica').text(pdfSafe(value), MARGIN + 130, y, { width: CONTENT_WIDTH - 130 });
      doc.y = y + h;
    }
    doc.x = MARGIN;
  }

  private ensure(height: number): void {
    const { doc } = this;
    if (doc.y + height > doc.page.height - doc.page.margins.bottom) doc.addPage();
  }

  table(columns: readonly Column[], rows: readonly Row[], size = 7.5): void {
    const { doc } = this;
    const pad = 3;
    const cellHeight = (row: Row, bold: boolean): number => {
      let h = 0;
      row.forEach((cell, i) => {
        const col = columns[i];
        if (col === undefined) return;
        doc.font(bold ? 'Helvetica-Bold' : col.mono === true ? 'Courier' : 'Helvetica').fontSize(size);
        h = Math.max(h, doc.heightOfString(pdfSafe(cell) || ' ', { width: col.width - 2 * pad }));
      });
      return h + 2 * pad;
    };
    const draw = (row: Row, bold: boolean): void => {
      const h = cellHeight(row, bold);
      if (doc.y + h > doc.page.height - doc.page.margins.bottom) {
        doc.addPage();
        if (!bold)
          draw(
            columns.map((c) => c.title),
            true,
          );
      }
      const y = doc.y;
      if (bold) doc.rect(MARGIN, y, CONTENT_WIDTH, h).fill('#e8e8e8').fillColor('black');
      let x = MARGIN;
      row.forEach((cell, i) => {
        const col = columns[i];
        if (col === undefined) return;
        doc
          .font(bold ? 'Helvetica-Bold' : col.mono === true ? 'Courier' : 'Helvetica')
          .fontSize(size)
          .text(pdfSafe(cell), x + pad, y + pad, { width: col.width - 2 * pad });
        x += col.width;
      });
      doc
        .moveTo(MARGIN, y + h)
        .lineTo(MARGIN + CONTENT_WIDTH, y + h)
        .lineWidth(0.3)
        .strokeColor('#999999')
        .stroke();
      doc.x = MARGIN;
      doc.y = y + h;
    };
    draw(
      columns.map((c) => c.title),
      true,
    );
    for (const row of rows) draw(row, false);
    doc.moveDown(0.5);
  }
}

function tallyRows(map: ReadonlyMap<string, Tally>, limit: number): Row[] {
  return [...map.entries()]
    .sort(
      (a, b) =>
        b[1].allow + b[1].deny + b[1].other - (a[1].allow + a[1].deny + a[1].other) || (a[0] < b[0] ? -1 : 1),
    )
    .slice(0, limit)
    .map(([k, t]) => [k, String(t.allow), String(t.deny), String(t.allow + t.deny + t.other)]);
}

function period(h: ExportHeader): string {
  const from = h.filter.from ?? 'the first entry';
  const to = h.filter.to === undefined ? 'the latest entry' : `${h.filter.to} (exclusive)`;
  return `${from} to ${to}`;
}

export const REPORT_MEANING =
  'Export: a true and complete copy of the audit trail records of this appliance for the period ' +
  'and filter stated, made for inspection (21 CFR 11.10(b)). The export is signed by the ' +
  "appliance's export key on behalf of the person named; the signature attests the copy, not a " +
  'review or approval of the decisions listed.';

/** Renders the report; returns the document (a readable stream, ended) and its page counter. */
export function renderReport(input: ReportInput): { doc: PDFKit.PDFDocument; pages: () => number } {
  const { header: h, collected: c, checkpoint } = input;
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN + 10, left: MARGIN, right: MARGIN },
    autoFirstPage: false,
    bufferPages: false,
    info: {
      Title: pdfSafe(`Audit trail report: ${h.site}`),
      Author: pdfSafe(h.generatedBy),
      Creator: `countersign ${h.softwareVersion}`,
      CreationDate: new Date(h.generatedAt),
    },
  });
  const w = new Writer(doc, `countersign audit report, ${h.site}, checkpoint size ${checkpoint.size}`);
  const root64 = Buffer.from(checkpoint.root).toString('base64');

  // Title page.
  doc.addPage();
  doc.moveDown(4).font('Helvetica-Bold').fontSize(24).text('Audit trail report', MARGIN);
  doc.font('Helvetica').fontSize(12).text(pdfSafe(h.site), MARGIN).moveDown(2);
  w.fields([
    ['Site', h.site],
    ['Appliance', h.appliance],
    ['Audit log', h.origin],
    ['Period', period(h)],
    ['Policy filter', h.filter.policy ?? 'all policies'],
    ['Image filter', h.filter.image ?? 'all images'],
    ['Entries in this report', String(c.total)],
    ['Audit log size', `${checkpoint.size} entries (signed checkpoint)`],
    ['Software version', `countersign ${h.softwareVersion}`],
    ['File', input.fileName],
  ]);
  w.heading('Signature manifestation (21 CFR 11.50)', 12);
  w.fields([
    ['Printed name', h.generatedBy],
    ['Date and time (UTC)', h.generatedAt],
    ['Meaning', REPORT_MEANING],
  ]);
  w.paragraph(
    `The detached signature ${input.fileName}.sig (ECDSA P-256, key fingerprint ` +
      `${input.exportKeyFingerprint}) covers every byte of this file. The integrity section at the ` +
      'end says how to check it and the audit log behind it.',
    8,
  );

  // Summary.
  w.section('Summary');
  w.fields([
    ['Entries', String(c.total)],
    ['First entry', c.firstTs ?? '-'],
    ['Last entry', c.lastTs ?? '-'],
    [
      'Decisions',
      `${c.decisions.allow + c.decisions.deny + c.decisions.other} (allow ${c.decisions.allow}, deny ${c.decisions.deny}${c.decisions.other > 0 ? `, other ${c.decisions.other}` : ''})`,
    ],
    ['Configuration changes', String(c.changes)],
    ['Clock stepped back', `${c.clockStepsBack} entries`],
  ]);
  w.heading('Entries by kind');
  w.table(
    [
      { title: 'Kind', width: 200 },
      { title: 'Entries', width: 80 },
    ],
    [...c.byKind.entries()].sort().map(([k, n]) => [k, String(n)]),
  );
  const tallyColumns = (first: string): Column[] => [
    { title: first, width: CONTENT_WIDTH - 180 },
    { title: 'Allow', width: 60 },
    { title: 'Deny', width: 60 },
    { title: 'Total', width: 60 },
  ];
  w.heading('Decisions by policy');
  w.table(tallyColumns('Policy'), tallyRows(c.byPolicy, 100));
  w.heading('Decisions by image (up to 100, most frequent first)');
  w.table(tallyColumns('Image'), tallyRows(c.byImage, 100));
  w.heading('Denials by reason');
  w.table(
    [
      { title: 'Reason', width: 300 },
      { title: 'Denials', width: 80 },
    ],
    [...c.denialReasons.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, String(n)]),
  );
  w.heading(
    `Denials with reasons${c.decisions.deny > c.denialRows.length ? ` (first ${c.denialRows.length} of ${c.decisions.deny})` : ''}`,
  );
  w.table(
    [
      { title: '#', width: 40 },
      { title: 'Time (UTC)', width: 100 },
      { title: 'Image', width: 190 },
      { title: 'Reasons', width: CONTENT_WIDTH - 330 },
    ],
    c.denialRows,
  );

  // Decision table.
  const decisionsTotal = c.decisions.allow + c.decisions.deny + c.decisions.other;
  w.section('Decisions');
  if (decisionsTotal > c.decisionRows.length) {
    w.paragraph(
      `This table lists the first ${c.decisionRows.length} of ${decisionsTotal} decisions. The CSV ` +
        'and JSON Lines exports of the same range hold every entry (countersign audit export --format csv|jsonl).',
    );
  }
  w.table(
    [
      { title: '#', width: 38 },
      { title: 'Time (UTC)', width: 98 },
      { title: 'Caller', width: 62 },
      { title: 'Decision', width: 40 },
      { title: 'Image and digest', width: 175 },
      { title: 'Policies', width: CONTENT_WIDTH - 413 },
    ],
    c.decisionRows,
    7,
  );

  // Configuration changes.
  w.section('Configuration change history');
  if (c.changes > c.changeRows.length) {
    w.paragraph(
      `This table lists the first ${c.changeRows.length} of ${c.changes} changes; the CSV and JSON Lines exports hold them all.`,
    );
  }
  if (c.changes === 0) w.paragraph('No configuration changes in this range.');
  else {
    w.table(
      [
        { title: '#', width: 38 },
        { title: 'Time (UTC)', width: 98 },
        { title: 'Who', width: 70 },
        { title: 'What', width: 90 },
        { title: 'Why', width: 90 },
        { title: 'Old / new hash', width: CONTENT_WIDTH - 386, mono: true },
      ],
      c.changeRows,
      7,
    );
  }

  // Inventory.
  w.section('Signers and keys');
  w.heading('Appliance keys');
  w.fields([
    ['Checkpoint key (Ed25519)', input.applianceVerifierKey],
    ['Export signing key', `ECDSA P-256, SPKI SHA-256 ${input.exportKeyFingerprint}`],
  ]);
  if (input.inventory.length > 0) {
    w.heading('Keys and trust roots in the configuration');
    w.table(
      [
        { title: 'File', width: 150 },
        { title: 'Kind', width: 110 },
        { title: 'SHA-256', width: CONTENT_WIDTH - 260, mono: true },
      ],
      input.inventory.map((i) => [i.name, i.detail, i.hash]),
    );
  } else {
    w.heading('Signers named in the decisions (no keys/ or trust-root/ in the configuration)');
    w.table(
      [
        { title: 'Signer', width: 300 },
        { title: 'Decisions naming it', width: 120 },
      ],
      [...c.signers.entries()].sort().map(([k, n]) => [k, String(n)]),
    );
  }

  // Integrity.
  w.section('Integrity');
  w.fields([
    ['Tree size', String(checkpoint.size)],
    ['Root hash (base64)', root64],
    ['Root hash (hex)', Buffer.from(checkpoint.root).toString('hex')],
    ['Checkpoint key', input.applianceVerifierKey],
    [
      'Consistency',
      input.consistencyFrom === undefined
        ? 'No previous checkpoint was given.'
        : `Verified at export time: this log extends the previous checkpoint of size ${input.consistencyFrom}.`,
    ],
  ]);
  w.heading('Signed checkpoint (C2SP tlog-checkpoint)');
  w.paragraph(checkpoint.note.replaceAll('\u2014', '--'), 7.5, 'Courier');
  w.heading('How to verify');
  w.paragraph(
    [
      `1. The file: countersign audit verify-export ${input.fileName} --key export-signing.pub, or with cosign: ` +
        `cosign verify-blob --key export-signing.pub --signature ${input.fileName}.sig --insecure-ignore-tlog=true ${input.fileName}`,
      '2. Keep the checkpoint above. The JSON Lines export of the same range carries an inclusion proof for ' +
        'every entry against it; a later export given --previous-checkpoint proves the log only grew.',
      '3. On the appliance: countersign audit verify --config DIR --checkpoint <the checkpoint above> ' +
        'recomputes every entry hash and proves the database still extends this checkpoint.',
    ].join('\n'),
    8.5,
  );
  doc.end();
  return { doc, pages: () => w.pages };
}
