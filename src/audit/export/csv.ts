/**
 * CSV export rows (pure). One row per audit entry, columns in this order (stable: new columns are
 * only ever appended; documented in README.md beside this file):
 *
 *   index              entry index in the audit log (0-based, the Merkle leaf index)
 *   time_utc           server time, ISO 8601 UTC with milliseconds (`2025-03-01T08:00:01.000Z`)
 *   kind               decision | config-change | auth-refused | system | review | signature | export
 *   actor              the authenticated person or calling system
 *   decision           allow | deny (decisions only)
 *   image              the image reference asked about
 *   digest             the digest decided on
 *   policies           policy names with `@<content hash>`, separated by `; `
 *   reasons            reason codes and signer outcomes, separated by `; `
 *   subject            what a configuration change touched
 *   old_hash, new_hash content hashes before and after a configuration change
 *   clock_stepped_back `1` when the server clock was behind the previous entry's time, else `0`
 *   previous_time_utc  the previous entry's time (empty for entry 0)
 *   software_version   the countersign version that wrote the entry
 *   entry_hash         the entry's RFC 6962 leaf hash, hex
 *   payload_json       the entry's full payload, canonical JSON exactly as stored
 *
 * Encoding: UTF-8 with a byte order mark and CRLF line ends. Without the BOM, Excel reads a CSV as
 * the system's ANSI code page and garbles every non-ASCII name; LibreOffice and every CSV parser
 * worth the name skip a BOM. CRLF is RFC 4180 §2 item 1 and what Excel writes itself.
 * Quoting: RFC 4180 §2 items 5-7. Formula injection: a cell starting with = + - @ TAB or CR gets a
 * leading apostrophe (OWASP "CSV Injection"), so a spreadsheet shows it as text and runs nothing.
 */
import type { AuditEntry } from '../entry.ts';
import { entryFields } from './fields.ts';

export const CSV_BOM = '\uFEFF';
export const CSV_EOL = '\r\n';

export const CSV_COLUMNS = [
  'index',
  'time_utc',
  'kind',
  'actor',
  'decision',
  'image',
  'digest',
  'policies',
  'reasons',
  'subject',
  'old_hash',
  'new_hash',
  'clock_stepped_back',
  'previous_time_utc',
  'software_version',
  'entry_hash',
  'payload_json',
] as const;

const FORMULA_START = /^[=+\-@\t\r]/;

/** OWASP CSV injection: a leading apostrophe makes a spreadsheet treat the cell as text. */
export function neutraliseFormula(cell: string): string {
  return FORMULA_START.test(cell) ? `'${cell}` : cell;
}

/** RFC 4180 §2: fields with a quote, comma, CR or LF are quoted, quotes doubled. */
export function quoteCsvField(cell: string): string {
  return /[",\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}

function line(cells: readonly string[]): string {
  return cells.map((c) => quoteCsvField(neutraliseFormula(c))).join(',') + CSV_EOL;
}

/** The first bytes of the file: BOM and the header row. */
export function csvHeader(): string {
  return CSV_BOM + line(CSV_COLUMNS);
}

export function csvRow(entry: AuditEntry): string {
  const f = entryFields(entry);
  return line([
    String(entry.index),
    entry.ts,
    entry.kind,
    entry.actor,
    f.decision,
    f.image,
    f.digest,
    f.policies.join('; '),
    f.reasons.join('; '),
    f.subject,
    f.oldHash,
    f.newHash,
    entry.clockSteppedBack ? '1' : '0',
    entry.prevTs ?? '',
    entry.softwareVersion,
    Buffer.from(entry.entryHash).toString('hex'),
    entry.payloadText,
  ]);
}
