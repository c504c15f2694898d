/** Signed audit exports for regulators (CSV, JSON Lines, PDF) and their offline check: the public face. */
export { EXPORT_FORMATS, exportAudit, isExportFormat } from './export.ts';
export type { ExportFormat, ExportOptions, ExportResult } from './export.ts';
export { CSV_COLUMNS, csvHeader, csvRow, neutraliseFormula, quoteCsvField } from './csv.ts';
export { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, JsonlExportChecker } from './jsonl.ts';
export type {
  ExportFilter,
  ExportHeader,
  ExportProblem,
  ExportProblemCode,
  JsonlCheckOptions,
} from './jsonl.ts';
export { DEFAULT_REPORT_LIMITS, REPORT_MEANING, ReportCollector, renderReport } from './pdf.ts';
export type { ReportLimits } from './pdf.ts';
export { ChunkedProofTree } from './proof-tree.ts';
export {
  EXPORT_SIGNING_KEY_FILE,
  EXPORT_SIGNING_PUBLIC_KEY_FILE,
  loadOrCreateExportSigningKey,
  parseExportPublicKey,
} from './signing-key.ts';
export type { ExportSigningKey } from './signing-key.ts';
export { detectFormat, verifyExport } from './verify-export.ts';
export type { DetectedFormat, ExportVerification, VerifyExportOptions } from './verify-export.ts';
