import { status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { HealthHandlers } from '../generated/grpc/health/v1/Health.js';
import type { HealthCheckRequest__Output } from '../generated/grpc/health/v1/HealthCheckRequest.js';
import type { HealthCheckResponse } from '../generated/grpc/health/v1/HealthCheckResponse.js';

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
type Serving = 'SERVING' | 'NOT_SERVING';

/**
 * grpc.health.v1 for Envoy's active health checks of the sidecar cluster. "" and the
 * Authorization service report SERVING only while the sidecar is ready and not draining.
 */
export class HealthService {
  private serving: Serving = 'NOT_SERVING';
  private readonly watchers = new Set<ServerWritableStream<HealthCheckRequest__Output, HealthCheckResponse>>();

  set(serving: boolean): void {
    const next: Serving = serving ? 'SERVING' : 'NOT_SERVING';
    if (next === this.serving) return;
    this.serving = next;
    for (const call of this.watchers) if (known(call.request.service)) call.write({ status: next });
  }

  /** Ends open Watch streams so a draining server is not held open by them. */
  close(): void {
    for (const call of this.watchers) call.end();
    this.watchers.clear();
  }

  readonly handlers: HealthHandlers = {
    Check: (call: ServerUnaryCall<HealthCheckRequest__Output, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) => {
      if (!known(call.request.service)) return callback({ code: status.NOT_FOUND, details: 'unknown service' });
      callback(null, { status: this.serving });
    },
    Watch: (call: ServerWritableStream<HealthCheckRequest__Output, HealthCheckResponse>) => {
      // Per the health protocol an unknown service's stream stays open (it may appear later);
      // tracked like the others so close() ends it and a drain is not held open by it.
      this.watchers.add(call);
      call.on('cancelled', () => this.watchers.delete(call));
      call.write({ status: known(call.request.service) ? this.serving : 'SERVICE_UNKNOWN' });
    },
  };
}

function known(service: string | undefined): boolean {
  return service === undefined || service === '' || service === AUTHORIZATION_SERVICE;
}
