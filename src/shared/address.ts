/**
 * `host:port` as the config writes a listen address (`127.0.0.1:9191`, `[::1]:9192`, `localhost:0`):
 * the host without an IPv6 literal's brackets, and the port.
 */
export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}
