import type { DecisionRecord, DecisionSink } from '../grpc/index.js';

/** Where decision records go; implemented over the NATS connection in main. */
export interface DecisionPublisher {
  /** False while disconnected: records then wait in the bounded buffer (or are dropped). */
  readonly connected: boolean;
  publish(subject: string, data: Uint8Array): void;
}

export interface DecisionLogOptions {
  /** The subject of a record: `<prefix>.decisions.<service>` of the service it decided for. */
  readonly subject: (entry: DecisionRecord) => string;
  /** Fraction of allows published (0–1); denies are always published. */
  readonly sampleAllows: number;
  /** Records held while NATS is slow or gone; beyond this the oldest are dropped. */
  readonly maxBuffer: number;
  readonly publisher: DecisionPublisher;
  readonly onDrop: (count: number) => void;
  readonly flushIntervalMs?: number;
  readonly random?: () => number;
}

const encoder = new TextEncoder();

/**
 * Publishes decisions for audit without ever making a Check wait: `record` only pushes onto
 * a bounded ring; a timer moves records to NATS when connected. When the ring is full the
 * oldest record is dropped and counted, so a slow or absent NATS costs memory up to
 * `maxBuffer` records and nothing else.
 */
export class DecisionLog implements DecisionSink {
  private readonly ring: Array<DecisionRecord | undefined>;
  private head = 0;
  private size = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly random: () => number;

  constructor(private readonly options: DecisionLogOptions) {
    this.ring = new Array<DecisionRecord | undefined>(options.maxBuffer);
    this.random = options.random ?? Math.random;
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 100);
    this.timer.unref();
  }

  /** Whether this decision should be recorded at all (decided before building the record). */
  wants(allow: boolean): boolean {
    return !allow || this.random() < this.options.sampleAllows;
  }

  record(entry: DecisionRecord): void {
    const capacity = this.ring.length;
    if (capacity === 0) return this.options.onDrop(1);
    if (this.size === capacity) {
      this.head = (this.head + 1) % capacity;
      this.size--;
      this.options.onDrop(1);
    }
    this.ring[(this.head + this.size) % capacity] = entry;
    this.size++;
  }

  get pending(): number {
    return this.size;
  }

  flush(): void {
    const { publisher, subject } = this.options;
    while (this.size > 0 && publisher.connected) {
      const entry = this.ring[this.head]!;
      try {
        publisher.publish(subject(entry), encoder.encode(JSON.stringify(entry)));
      } catch {
        return; // the connection went away mid-flush; keep the record for the next tick
      }
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.ring.length;
      this.size--;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
