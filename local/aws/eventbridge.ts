import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../loopback';

/**
 * PutEvents' limits (EventBridge API reference, PutEvents and PutEventsRequestEntry,
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html): 1 to 10 entries
 * a request, and entries under 1 MB since January 2026 (256 KB before: "More room to build:
 * serverless services now support payloads up to 1 MB", AWS Compute Blog,
 * https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb),
 * counted as "Calculating PutEvents event entry size"
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html) counts them:
 * Source, DetailType, Detail and each resource in UTF-8 bytes, and 14 bytes for a Time. The older
 * text limits the request's entries together, the newer each entry: the emulator holds the request
 * to it, which satisfies both. A megabyte is taken as 1 MiB, as SQS states its own 1 MiB.
 */
const MAX_ENTRIES = 10;
const MAX_ENTRIES_BYTES = 1024 * 1024;

/** An event as EventBridge delivers it to a rule's target. */
export interface RecordedEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: unknown;
  /** The bus it was put on (not part of EventBridge's envelope). */
  readonly bus: string;
}

export interface LocalEventBridge {
  /** The endpoint EventBridge clients are given (`AWS_ENDPOINT_URL_EVENTBRIDGE`). */
  readonly url: string;
  /** Every event accepted so far, in order. */
  readonly events: readonly RecordedEvent[];
  close(): Promise<void>;
}

interface RequestEntry {
  Source?: unknown;
  DetailType?: unknown;
  Detail?: unknown;
  EventBusName?: unknown;
  Resources?: unknown;
  Time?: unknown;
}

/**
 * EventBridge's PutEvents on the loopback address, for the buses `buses` names, in the AWS JSON 1.1
 * protocol the SDK speaks (`X-Amz-Target: AWSEvents.PutEvents`). It checks no signature. An entry
 * fails on its own, as PutEvents reports it (PutEventsResultEntry): without Source, DetailType or
 * Detail, which EventBridge requires of an entry it sends, or naming a bus it does not serve, with
 * `InvalidArgument`; with a Detail that is not a JSON object, with `MalformedDetail`. A request of
 * no or too many entries, or too large, fails whole with a ValidationException. There are no rules
 * or targets: accepted events are recorded, and `onEvent` sees each one (the platform prints them).
 */
export async function startEventBridge(options: {
  readonly buses: readonly string[];
  readonly region: string;
  readonly account?: string;
  readonly port?: number;
  readonly onEvent?: (event: RecordedEvent) => void;
}): Promise<LocalEventBridge> {
  const account = options.account ?? '000000000000';
  const events: RecordedEvent[] = [];
  const busOf = (name: string) => {
    // A bus is named by its name or its ARN; none is the account's default bus.
    const bare = name.startsWith('arn:') ? name.slice(name.lastIndexOf('/') + 1) : name;
    return options.buses.includes(bare) ? bare : undefined;
  };

  const putEvents = (body: { Entries?: unknown }) => {
    const entries = body.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
      return fault(400, 'ValidationException', `Entries must hold 1 to ${MAX_ENTRIES} entries`);
    }
    const size = (entries as RequestEntry[]).reduce((total, entry) => total + entrySize(entry), 0);
    if (size >= MAX_ENTRIES_BYTES) {
      return fault(400, 'ValidationException', `the entries total ${size} bytes; the limit is under 1 MB`);
    }
    const results = (entries as RequestEntry[]).map((entry) => {
      if (
        typeof entry.Source !== 'string' ||
        typeof entry.DetailType !== 'string' ||
        typeof entry.Detail !== 'string'
      ) {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source, DetailType and Detail are required' };
      }
      const bus = busOf(typeof entry.EventBusName === 'string' ? entry.EventBusName : 'default');
      if (!bus)
        return { ErrorCode: 'InvalidArgument', ErrorMessage: `no event bus ${String(entry.EventBusName)}` };
      let detail: unknown;
      try {
        detail = JSON.parse(entry.Detail);
      } catch {
        detail = undefined;
      }
      if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
        return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is not valid JSON' };
      }
      const event: RecordedEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType,
        source: entry.Source,
        account,
        time: new Date(typeof entry.Time === 'number' ? entry.Time * 1000 : Date.now())
          .toISOString()
          .replace(/\.\d{3}Z$/, 'Z'),
        region: options.region,
        resources: Array.isArray(entry.Resources) ? (entry.Resources as string[]) : [],
        detail,
        bus,
      };
      events.push(event);
      options.onEvent?.(event);
      return { EventId: event.id };
    });
    return {
      status: 200,
      body: { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results },
    };
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = req.headers['x-amz-target'];
    let answer: { status: number; body: object };
    if (req.method !== 'POST' || target !== 'AWSEvents.PutEvents') {
      answer = fault(
        400,
        'UnknownOperationException',
        `${String(target)} is not emulated; only PutEvents is`,
      );
    } else {
      try {
        answer = putEvents(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries?: unknown });
      } catch {
        answer = fault(400, 'SerializationException', 'the request body is not JSON');
      }
    }
    res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(answer.body));
  };
  const { url } = await listenOnLoopback(server, options.port ?? 0);
  return {
    url,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function fault(status: number, type: string, message: string) {
  return { status, body: { __type: type, message } };
}

/** An entry's size as EventBridge counts it (see MAX_ENTRIES_BYTES). */
function entrySize(entry: RequestEntry): number {
  const bytes = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0);
  const resources = Array.isArray(entry.Resources) ? entry.Resources : [];
  return (
    (entry.Time === undefined ? 0 : 14) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    resources.reduce((total: number, r) => total + bytes(r), 0)
  );
}
