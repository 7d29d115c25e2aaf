/**
 * # Policy document (`apiVersion: authz-sidecar/v1`, `kind: Policy`)
 *
 * Every object is strict: an unknown field (a typo such as `rule:`) is an error naming it.
 * Every list that is present must be non-empty; omit a field to mean "any".
 *
 * - `metadata.name`, `metadata.service`: `[a-z0-9][a-z0-9._-]*`.
 * - `spec.defaultAction` (required): `ALLOW` | `DENY`, used when no rule decides.
 * - `spec.roles`: role → permission patterns. Permissions are ":"-separated segments; in a
 *   pattern a middle `*` matches one segment, a trailing `*` one or more (`orders:*` grants
 *   `orders:read` and `orders:items:write`, not `orders`), and `*` alone grants everything.
 * - `spec.rolesFrom` (default `roles`): the claim holding the caller's roles. Tried first as
 *   one claim name (so `https://example.test/roles` works), then as a dotted path
 *   (`realm_access.roles`). An array of strings, or a string split on spaces/commas. Read
 *   from the user token, or from the service token when there is no user token.
 * - `spec.failOpen` (default false): when the decision cannot be made — an issuer's keys are
 *   unavailable, an internal error — allow the request without identity instead of a 503/500.
 *   Opt-in for services that prefer availability; every such allow is counted
 *   (`authz_fail_open_total`) and logged. "No policy loaded" is always closed.
 * - `spec.rules[]`: `name` (required, unique, `[a-z0-9][a-z0-9._-]*`), `action` (required),
 *   optional `description`, `to`, `from`, `require` (ALLOW rules only), `when`.
 *
 * ## Matching a rule
 * A rule matches when `to`, `from`, `require` and `when` all hold.
 * - `to`: alternatives (any one may match); absent = any request. Inside one entry the
 *   present fields must all match (and at least one must be present):
 *   - `methods`: upper-case tokens, compared exactly (`GET` does not imply `HEAD`); an entry
 *     with a lower-case letter is an error (requests with one are refused, see view.ts).
 *   - `paths`, matched case-sensitively against the normalised path (no query):
 *     `*` any path; `/api/orders` exact; `/api/orders/*` prefix — matches `/api/orders/`
 *     and everything below, NOT `/api/orders` itself (list both for "collection and
 *     members"), and only at segment boundaries (`/api/*` never matches `/apix`);
 *     `*.png` suffix (`*` first); or a URI template (Envoy's uri_template syntax, see
 *     paths.ts): `/v1/payments/{id}/refund`, `/v1/files/{path=**}`, whose
 *     variables a `when` reads as `request.params`. A pattern starts with "/" or "*" and
 *     contains no `..`, `//`, `.` segments, `%`, `;`, `?`, `#`, spaces or non-ASCII.
 *   - `hosts`: case-insensitive; exact (`orders.example.test`) or `*.example.test` (one or
 *     more labels before `.example.test`, not `example.test` itself). A pattern without a
 *     port ignores the request's port; a pattern with a port must match it too.
 * - `from`: alternatives; absent = anyone, including anonymous callers. Inside one entry
 *   the present fields must all match (at least one must be present); a caller without
 *   the identity an entry asks for does not match it:
 *   - `issuers`: the user token's `iss` claim, exactly (not the issuer's config name).
 *   - `subjects`: the user token's `sub`, exactly (from any issuer unless `issuers` is set).
 *   - `principals`: the caller's SPIFFE id (service token, else mTLS peer): exact, a prefix
 *     ending in `/*` (`spiffe://cluster.local/ns/shop/*`), or `*` (any principal).
 * - `require` (ALLOW rules only; on a DENY rule it would read as "unless", so it is an
 *   error — use `when`): `scopes` — every listed scope is in the user token's scopes;
 *   `permission` — a concrete permission some role of the caller grants (see roles).
 * - `when`: a CEL expression (at most 4096 characters), compiled and type-checked when the
 *   document is validated; see cel.ts for the variables. It must yield a bool. An
 *   evaluation error (e.g. a missing map key) or a non-bool result fails closed: an ALLOW
 *   rule does not match, a DENY rule matches.
 *
 * ## Deciding
 * 1. Any matching DENY rule → deny, `denied_by_rule`.
 * 2. The first matching ALLOW rule in document order → allow, `allowed_by_rule`.
 * 3. `defaultAction`: `default_allow`, or `default_deny` — except that when the first ALLOW
 *    rule (document order) whose `to`, `from` and `when` hold failed only its `require`,
 *    the deny says why: `missing_scope` (with the missing scopes) if any scope is missing,
 *    else `missing_permission`; `rule` then names that ALLOW rule.
 */
import { z } from 'zod';
import { DocumentError, fieldPath, locateField, validateDocument, type FieldPath } from '../shared/index.js';
import { conditionError } from './cel.js';
import { pathPatternError } from './paths.js';
import { hostPatternError, methodError, principalPatternError } from './patterns.js';
import { claimPathError, permissionError, permissionPatternError, roleNameError, rolesGranting } from './permissions.js';

export const MAX_WHEN_LENGTH = 4096;
/**
 * Real policies have tens of rules. Parsing and compiling run on the request thread, about
 * 0.3 ms per rule from YAML (0.05 ms from a control-plane document), so a bound keeps a
 * reload from stalling Checks for long; the text itself is bounded by MAX_POLICY_BYTES (load.ts).
 */
export const MAX_RULES = 10_000;

const NAME = /^[a-z0-9][a-z0-9._-]*$/;
const name = z.string().max(253).regex(NAME, 'must match [a-z0-9][a-z0-9._-]*');

/** A string checked by one of the `…Error(value): reason | null` validators. */
function checked(validate: (value: string) => string | null) {
  return z.string().superRefine((value, ctx) => {
    const reason = validate(value);
    if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
  });
}

const list = <T extends z.ZodType>(item: T) => z.array(item).min(1, 'must not be empty');

const atLeastOne = (fields: string[]) => (entry: Record<string, unknown>) => fields.some((f) => entry[f] !== undefined);

const target = z
  .strictObject({
    methods: list(checked(methodError)).optional(),
    paths: list(checked(pathPatternError)).optional(),
    hosts: list(checked(hostPatternError).transform((h) => h.toLowerCase())).optional(),
  })
  .refine(atLeastOne(['methods', 'paths', 'hosts']), 'must list methods, paths or hosts (omit "to" for any request)');

const source = z
  .strictObject({
    issuers: list(z.string().min(1)).optional(),
    subjects: list(z.string().min(1)).optional(),
    principals: list(checked(principalPatternError)).optional(),
  })
  .refine(atLeastOne(['issuers', 'subjects', 'principals']), 'must list issuers, subjects or principals (omit "from" for anyone)');

const requirement = z
  .strictObject({
    scopes: list(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be an OAuth scope token')).optional(),
    permission: checked(permissionError).optional(),
  })
  .refine(atLeastOne(['scopes', 'permission']), 'must list scopes or permission');

const action = z.enum(['ALLOW', 'DENY']);

const rule = z
  .strictObject({
    name,
    description: z.string().optional(),
    action,
    to: list(target).optional(),
    from: list(source).optional(),
    require: requirement.optional(),
    when: z.string().min(1).max(MAX_WHEN_LENGTH, `must be at most ${MAX_WHEN_LENGTH} characters`).pipe(checked(conditionError)).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.action === 'DENY' && r.require !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['require'], message: 'is only allowed on ALLOW rules (use "when" on a DENY rule)' });
    }
  });

const rules = z
  .array(rule)
  .max(MAX_RULES, `must have at most ${MAX_RULES} rules`)
  .superRefine((items, ctx) => {
    const seen = new Map<string, number>();
    items.forEach((r, i) => {
      const first = seen.get(r.name);
      if (first === undefined) seen.set(r.name, i);
      else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate rule name "${r.name}" (first at spec.rules[${first}])` });
    });
  });

export const policyDocumentSchema = z.strictObject({
  apiVersion: z.literal('authz-sidecar/v1'),
  kind: z.literal('Policy'),
  metadata: z.strictObject({ name, service: name }),
  spec: z
    .strictObject({
      defaultAction: action,
      roles: z.record(checked(roleNameError), z.array(checked(permissionPatternError))).default({}),
      rolesFrom: checked(claimPathError).default('roles'),
      rules,
      /** Opt-in: allow (without identity) when the decision cannot be made — keys unavailable, an internal error. */
      failOpen: z.boolean().default(false),
    })
    .superRefine((spec, ctx) => {
      // A permission no role grants can never be satisfied: almost always a typo.
      spec.rules.forEach((r, i) => {
        const permission = r.require?.permission;
        if (permission === undefined || rolesGranting(spec.roles, permission).size > 0) return;
        const path = ['rules', i, 'require', 'permission'];
        ctx.addIssue({ code: 'custom', path, message: `no role in spec.roles grants "${permission}"` });
      });
    }),
});

export type PolicyDocument = z.infer<typeof policyDocumentSchema>;
export type PolicyRule = PolicyDocument['spec']['rules'][number];
/** What a caller may pass to `compilePolicy` (defaults not yet applied). */
export type PolicyDocumentInput = z.input<typeof policyDocumentSchema>;

/**
 * Validates a parsed document, applying defaults. The error names the first problem; an
 * unknown field wins over the rest, since a typo (`rule:`) usually explains them. A field of
 * a rule is shown with the rule's name (`spec.rules[3] (read-orders).when`), and with its
 * line and column when the document was parsed from text.
 */
export function validatePolicyDocument(value: unknown, file: string): PolicyDocument {
  // Counted before validating each rule: refusing 100,000 rules should not cost validating them.
  const count = (value as { spec?: { rules?: unknown } } | null)?.spec?.rules;
  if (Array.isArray(count) && count.length > MAX_RULES)
    throw new DocumentError(file, 'spec.rules', `has ${count.length} rules (at most ${MAX_RULES})`, locateField(value, ['spec', 'rules']));
  return validateDocument(policyDocumentSchema, value, file, {
    what: 'a mapping (apiVersion, kind, metadata, spec)',
    label: (path) => policyFieldLabel(value, path),
  });
}

/**
 * `spec.rules[3].when` → `spec.rules[3] (read-orders).when`: a rule's field with the rule's
 * name, which says more than its index. Undefined for other fields, and when the rule has no
 * valid name (the message then never echoes arbitrary text).
 */
export function policyFieldLabel(doc: unknown, path: FieldPath): string | undefined {
  const index = path[2];
  if (path[0] !== 'spec' || path[1] !== 'rules' || typeof index !== 'number') return undefined;
  const rules = (doc as { spec?: { rules?: unknown } } | null)?.spec?.rules;
  const name = Array.isArray(rules) ? (rules[index] as { name?: unknown } | null | undefined)?.name : undefined;
  if (typeof name !== 'string' || name.length > 253 || !NAME.test(name)) return undefined;
  const rule = `spec.rules[${index}]`;
  return `${rule} (${name})${fieldPath(path).slice(rule.length)}`;
}
