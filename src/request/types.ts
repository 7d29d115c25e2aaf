/** The normalised, immutable view of one CheckRequest that the rest of the request path reads. */
export interface RequestView {
  /** `x-request-id` when present, else Envoy's stream id (`attributes.request.http.id`). */
  readonly id: string;
  /** HTTP method as sent: an RFC 9110 token without lower-case letters (those are refused). */
  readonly method: string;
  /** `:authority` / host, lower-case, port kept as sent. */
  readonly host: string;
  /** Normalised path without query or fragment; the form policy matches against. */
  readonly path: string;
  /** The path exactly as Envoy sent it (may include the query). */
  readonly rawPath: string;
  /** Decoded query parameters; a repeated key keeps its first value. */
  readonly query: Readonly<Record<string, string>>;
  /** Lower-case header names; repeated headers joined with "," (as Envoy's `headers` map does). */
  readonly headers: Readonly<Record<string, string>>;
  /** Names of headers that arrived more than once as separate entries (`header_map`, or case variants of a `headers` key). */
  readonly repeatedHeaders: ReadonlySet<string>;
  /** Downstream peer address ("ip:port"), "" when unknown. */
  readonly sourceAddress: string;
  /** Downstream mTLS principal (URI SAN, a SPIFFE id in a mesh), "" when none. */
  readonly sourcePrincipal: string;
  /** Per-route `context_extensions` from Envoy's config. */
  readonly contextExtensions: Readonly<Record<string, string>>;
}
