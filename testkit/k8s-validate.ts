/**
 * Validates Kubernetes objects against the API's OpenAPI schema, offline, in two passes:
 *
 * 1. `kubernetes-models` (devDependency): JSON-schema validators compiled from the
 *    Kubernetes OpenAPI spec — types, required fields, enums, formats such as quantities.
 *    Istio's custom resources (AuthorizationPolicy, ServiceEntry, …) the same way from
 *    `@kubernetes-models/istio`, generated from Istio's CRD schemas.
 * 2. Unknown fields. The OpenAPI schemas leave `additionalProperties` open (the API server
 *    checks unknown fields separately, `kubectl --validate=strict`), so pass 1 accepts a
 *    typo like `readinesProbe`. The same package ships TypeScript declarations generated
 *    from the same spec; the TypeScript compiler (already a devDependency) reads them and
 *    every key of the object is looked up in its declared type.
 */
import { createRequire } from 'node:module';
import ts from 'typescript';
import { ROOT } from './paths.js';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

const require = createRequire(import.meta.url);
const API_VERSION = /^([a-z0-9-]+(\.[a-z0-9-]+)*\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

export function describeObject(object: K8sObject): string {
  return `${object.kind}/${object.metadata?.name ?? '?'}`;
}

/** The model packages, tried in order: Kubernetes' own API, then Istio's custom resources. */
const MODEL_PACKAGES = ['kubernetes-models', '@kubernetes-models/istio'];

/**
 * The packages lay their models out as <apiVersion>/<Kind> ("apps/v1/Deployment",
 * "v1/ConfigMap", "security.istio.io/v1/AuthorizationPolicy"); undefined when no package has
 * such a model.
 */
function modelModule(apiVersion: string, kind: string): string | undefined {
  if (!API_VERSION.test(apiVersion) || !KIND.test(kind)) return undefined;
  for (const pkg of MODEL_PACKAGES) {
    const module = `${pkg}/${apiVersion}/${kind}`;
    try {
      require.resolve(module);
      return module;
    } catch {
      // not in this package
    }
  }
  return undefined;
}

type ModelClass = new (data: unknown) => { validate(): void };

/** Pass 1: the OpenAPI JSON schema. One message per object, ajv's paths joined. */
export function schemaErrors(object: K8sObject): string[] {
  const module = modelModule(object.apiVersion, object.kind);
  const Model = module ? (require(module) as Record<string, ModelClass | undefined>)[object.kind] : undefined;
  if (!Model) return [`${describeObject(object)}: no schema for apiVersion "${object.apiVersion}", kind "${object.kind}"`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [`${describeObject(object)}: ${(error as Error).message}`];
  }
}

/** Pass 2: the declared types, compiled once for every kind asked for. */
export class FieldChecker {
  private readonly checker: ts.TypeChecker;
  private readonly types = new Map<string, ts.Type>();

  constructor(kinds: ReadonlyArray<{ apiVersion: string; kind: string }>) {
    const unique = [...new Map(kinds.map((k) => [`${k.apiVersion} ${k.kind}`, k])).values()];
    const modules = unique.map((k) => modelModule(k.apiVersion, k.kind));
    const lines = unique.flatMap((k, i) => (modules[i] ? [`import type { I${k.kind} as T${i} } from '${modules[i]}';`, `export type K${i} = T${i};`] : []));
    // A virtual file at the repository root, so module resolution finds node_modules.
    const file = `${ROOT}__k8s-field-types__.ts`;
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      lib: ['lib.es2022.d.ts'],
    };
    const host = ts.createCompilerHost(options);
    const source = ts.createSourceFile(file, lines.join('\n'), ts.ScriptTarget.ES2022, true);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, ...rest) => (name === file ? source : getSourceFile(name, ...rest));
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => name === file || fileExists(name);
    const program = ts.createProgram([file], options, host);
    const unresolved = ts.getPreEmitDiagnostics(program).filter((d) => d.file === source);
    if (unresolved.length > 0) {
      throw new Error(`cannot load kubernetes-models types: ${unresolved.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')).join('; ')}`);
    }
    this.checker = program.getTypeChecker();
    for (const statement of source.statements) {
      if (!ts.isTypeAliasDeclaration(statement)) continue;
      const k = unique[Number(statement.name.text.slice(1))];
      this.types.set(`${k.apiVersion} ${k.kind}`, this.checker.getTypeAtLocation(statement.name));
    }
  }

  /** Paths of fields the object's declared type does not have. */
  unknownFields(object: K8sObject): string[] {
    const type = this.types.get(`${object.apiVersion} ${object.kind}`);
    if (!type) return [`${describeObject(object)}: no type declarations for "${object.apiVersion}" "${object.kind}"`];
    const found: string[] = [];
    this.walk(object, [type], '', found);
    return found.map((path) => `${describeObject(object)}: ${path.slice(1)}: unknown field`);
  }

  /**
   * The object and array types a value may have: unions and intersections taken apart, null
   * and undefined left out. Istio's CRD schemas with a oneOf (the AuthorizationPolicy's
   * `provider`) become `{ … } & (A | B)`, so a field is known when any part declares it.
   */
  private parts(types: readonly ts.Type[]): ts.Type[] {
    return types.flatMap((t) => (t.isUnion() || t.isIntersection() ? this.parts(t.types) : t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null) ? [] : [t]));
  }

  private walk(value: unknown, types: readonly ts.Type[], path: string, found: string[]): void {
    if (value === null || typeof value !== 'object') return; // scalars are pass 1's job
    const parts = this.parts(types);
    if (parts.some((t) => t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown))) return; // free-form (e.g. RawExtension)
    if (Array.isArray(value)) {
      const elements = parts.filter((t) => this.checker.isArrayType(t)).map((t) => this.checker.getTypeArguments(t as ts.TypeReference)[0]);
      if (elements.length === 0) return; // a type mismatch, which pass 1 reports
      value.forEach((item, i) => this.walk(item, elements, `${path}[${i}]`, found));
      return;
    }
    const objects = parts.filter((t) => t.flags & ts.TypeFlags.Object && !this.checker.isArrayType(t));
    if (objects.length === 0) return;
    for (const [key, child] of Object.entries(value)) {
      const properties = objects.flatMap((o) => this.checker.getPropertyOfType(o, key) ?? []);
      const indexes = objects.flatMap((o) => this.checker.getIndexInfoOfType(o, ts.IndexKind.String) ?? []);
      if (properties.length > 0)
        this.walk(
          child,
          properties.map((p) => this.checker.getTypeOfSymbol(p)),
          `${path}.${key}`,
          found,
        );
      else if (indexes.length > 0)
        this.walk(
          child,
          indexes.map((i) => i.type),
          `${path}.${key}`,
          found,
        );
      else found.push(`${path}.${key}`);
    }
  }
}

/** Every schema error and unknown field of every object; empty when all are valid. */
export function validateObjects(objects: readonly K8sObject[], fields = new FieldChecker(objects)): string[] {
  return objects.flatMap((object) => {
    const errors = schemaErrors(object);
    // A kind without a schema has no declarations either: one message is enough.
    return errors.length > 0 && errors[0].includes('no schema for') ? errors : [...errors, ...fields.unknownFields(object)];
  });
}
