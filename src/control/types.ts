/**
 * The control plane's contract (docs/control-plane.md), shared by the sidecar and authzctl.
 *
 * JetStream KV bucket (default name `authz`), one entry per document:
 *
 * | KV key                         | kind          | target                       | body                         |
 * | ------------------------------ | ------------- | ---------------------------- | ---------------------------- |
 * | `policy.<service>`             | `policy`      | `<service>`                  | a policy document (object)   |
 * | `shadow.<service>`             | `shadow`      | `<service>`                  | a policy document, or null   |
 * | `keys.issuer.<issuer name>`    | `keys`        | `issuer/<issuer name>`       | a JWKS (`{ "keys": [...] }`) |
 * | `keys.trust-domain.<domain>`   | `keys`        | `trust-domain/<domain>`      | a JWKS                       |
 * | `revocations`                  | `revocations` | `*`                          | `{ "entries": [...] }`       |
 * | `apikeys.<set name>`           | `apikeys`     | `<set name>`                 | `{ "keys": [...] }` (hashes) |
 *
 * Every value is a compact JWS (EdDSA or ES256) signed by a control-plane key whose public
 * half is pinned in the sidecar's config (`nats.signers`). Protected header:
 * `{ "alg", "kid", "typ": "authz-control+jws" }`. Payload: a ControlDocument.
 */
export type DocumentKind = 'policy' | 'shadow' | 'keys' | 'revocations' | 'apikeys';

export interface ControlDocument {
  readonly kind: DocumentKind;
  /** Which policy / key set the document is for; must match its KV key. */
  readonly target: string;
  /** Positive integer, strictly increasing per KV key; a sidecar never applies a lower or equal one. */
  readonly revision: number;
  /** Epoch seconds when signed. */
  readonly issuedAt: number;
  readonly body: unknown;
}

/** The body of the `revocations` document lists these; keys/revocations.ts parses and owns them. */
export type { RevocationEntry } from '../keys/index.js';

export const DOCUMENT_TYP = 'authz-control+jws';
export const REVOCATIONS_KEY = 'revocations';

/** NATS subjects (prefix configurable as `nats.subjectPrefix`, default "authz"). */
export const SUBJECTS = {
  /** `<prefix>.status.<service>.<instance>`: a sidecar's StatusReport, on change and periodically. */
  status: (prefix: string, service: string, instance: string) => `${prefix}.status.${service}.${instance}`,
  statusAll: (prefix: string) => `${prefix}.status.>`,
  /** Request/reply: every sidecar answers with its current StatusReport. */
  statusPing: (prefix: string) => `${prefix}.status-ping`,
  /** Request/reply: every sidecar of the service answers with its PolicyReport (shadow divergence, rule usage). */
  report: (prefix: string, service: string) => `${prefix}.report.${service}`,
  /** `<prefix>.decisions.<service>`: sampled allows and every deny. */
  decisions: (prefix: string, service: string) => `${prefix}.decisions.${service}`,
};

export interface StatusReport {
  readonly service: string;
  /** Pod name (HOSTNAME / POD_NAME), else hostname + pid. */
  readonly instance: string;
  readonly ready: boolean;
  /** KV key → applied document revision (0 = none yet). */
  readonly revisions: Readonly<Record<string, number>>;
  readonly lastError: { readonly key: string; readonly code: string; readonly message: string; readonly at: string } | null;
  readonly connected: boolean;
  /**
   * KV keys this sidecar cannot confirm it holds the newest revision of (NATS unreachable, or
   * the bucket's newest revision unreadable for a while). Absent in reports of older sidecars.
   */
  readonly unconfirmed?: readonly string[];
  readonly at: string;
}

export type { PolicyReport } from '../policy/index.js';
