/** The appliance's HTTP service: app (a plugin, never listening), server (listens), services. */
export { BODY_LIMIT, REDACT_PATHS, appPlugin, createApp, createLogger } from './app.ts';
export type { AppOptions, CreateAppOptions } from './app.ts';
export { createAppliance } from './appliance.ts';
export type {
  Appliance,
  ApplianceOptions,
  ChangeRequest,
  ChangeResult,
  ConfigState,
  ConfigTarget,
  ReloadResult,
} from './appliance.ts';
export type { Principal } from './auth.ts';
export { clientCertificateName } from './auth.ts';
export { AUDIT_DB_FILE, auditOrigin, openApplianceData } from './data.ts';
export { dataDirOf } from '../config/load.ts';
export type { ApplianceData } from './data.ts';
export { createMetrics } from './metrics.ts';
export type { DecisionOutcome, Metrics } from './metrics.ts';
export { startServer } from './server.ts';
export type { RunningServer, ServeOptions } from './server.ts';
