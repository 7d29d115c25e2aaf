/**
 * Freezes a value and everything reachable through its own enumerable properties. Used on
 * parsed JSON (token claims, signed documents) and on response parts built once and shared;
 * the recursion depth is that of the value (JSON is depth-limited where it is parsed).
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
