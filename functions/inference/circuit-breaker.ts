import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { Backend } from '../../contracts/registry-schemas';
import type { CircuitSettings } from '../../contracts/settings';
import { COUNTER_KEYS } from '../../contracts/table-keys';
import * as z from '../../contracts/zod';

const CIRCUIT_KEYS = COUNTER_KEYS;

const StateSchema = z.object({
  state: z.enum(['OPEN', 'HALF_OPEN']),
  openedAt: z.number(),
  probeStartedAt: z.optional(z.number()),
  probeOwner: z.optional(z.string()),
});
type StoredState = z.infer<typeof StateSchema>;

/** What a container may do with a backend right now. */
export type Admission =
  | { readonly kind: 'closed' }
  | { readonly kind: 'probe'; readonly openedAt: number }
  | { readonly kind: 'open'; readonly retryAfterSeconds: number };

/** The circuit of one backend: its endpoint, variant and model on the endpoint. */
export const circuitName = (b: Backend) => [b.endpointName, b.variant ?? '', b.targetModel ?? ''].join('|');

/**
 * Per-backend circuit breakers shared by every Lambda container through DynamoDB, with single-item
 * conditional writes only (no transactions, so it runs on dynalite):
 * - closed: requests flow. Retryable failures are counted per fixed window in an item of their own;
 *   the one that reaches the threshold opens the circuit (a conditional write, so it opens once).
 * - open: requests fail fast with 503 until the cool-down ends. Then exactly one container wins the
 *   conditional write that moves it to half-open and sends its request as the probe.
 * - half-open: others keep failing fast; the probe's success closes the circuit, its failure opens
 *   it again for another cool-down. A probe that never reports back is taken over after a timeout.
 * A closed circuit is an absent item, so healthy traffic costs no write and, through the cache, a
 * read per backend per `cacheTtlMs` per container.
 */
export class CircuitBreaker {
  private readonly cache = new Map<string, { state: StoredState | undefined; until: number }>();
  private readonly reading = new Map<string, Promise<StoredState | undefined>>();

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly settings: CircuitSettings,
    /** Identifies this container as a probe's owner. */
    private readonly containerId: string,
    private readonly now: () => number = Date.now,
  ) {}

  async admit(backend: Backend): Promise<Admission> {
    const name = circuitName(backend);
    const state = await this.read(name);
    if (!state) return { kind: 'closed' };
    const now = this.now();
    const { cooldownSeconds, probeTimeoutSeconds } = this.settings;
    if (state.state === 'OPEN' && now < state.openedAt + cooldownSeconds * 1000) {
      return {
        kind: 'open',
        retryAfterSeconds: Math.max(1, Math.ceil((state.openedAt + cooldownSeconds * 1000 - now) / 1000)),
      };
    }
    if (state.state === 'HALF_OPEN' && now < (state.probeStartedAt ?? 0) + probeTimeoutSeconds * 1000) {
      return { kind: 'open', retryAfterSeconds: 1 };
    }
    return (await this.claimProbe(name, state))
      ? { kind: 'probe', openedAt: state.openedAt }
      : { kind: 'open', retryAfterSeconds: 1 };
  }

  /**
   * A probe's success closes the circuit and starts a fresh count; a closed circuit needs no write.
   * Returns true when this success closed the circuit.
   */
  async recordSuccess(backend: Backend, admission: Admission): Promise<boolean> {
    if (admission.kind !== 'probe') return false;
    const name = circuitName(backend);
    const closed = await this.conditional(
      {
        Key: marshall({ [CIRCUIT_KEYS.partitionKey]: stateKey(name) }),
        UpdateExpression: 'REMOVE #state, openedAt, probeStartedAt, probeOwner',
        ConditionExpression: '#state = :half AND probeOwner = :me',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: marshall({ ':half': 'HALF_OPEN', ':me': this.containerId }),
      },
      name,
      undefined,
    );
    // The failures that opened it would otherwise reopen it at the next failure in this window.
    if (closed)
      await this.client.send(
        new DeleteItemCommand({ TableName: this.tableName, Key: this.window(name).key }),
      );
    return closed;
  }

  private window(name: string) {
    const windowMs = this.settings.windowSeconds * 1000;
    const windowStart = Math.floor(this.now() / windowMs) * windowMs;
    return {
      key: marshall({ [CIRCUIT_KEYS.partitionKey]: `${name}@${windowStart}` }),
      windowStart,
      windowMs,
    };
  }

  /** Counts a retryable failure; returns true when this failure opened (or reopened) the circuit. */
  async recordFailure(backend: Backend, admission: Admission): Promise<boolean> {
    const name = circuitName(backend);
    const now = this.now();
    if (admission.kind === 'probe') {
      return this.conditional(
        {
          Key: marshall({ [CIRCUIT_KEYS.partitionKey]: stateKey(name) }),
          UpdateExpression: 'SET #state = :open, openedAt = :now REMOVE probeStartedAt, probeOwner',
          ConditionExpression: '#state = :half AND probeOwner = :me',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: marshall({
            ':open': 'OPEN',
            ':half': 'HALF_OPEN',
            ':me': this.containerId,
            ':now': now,
          }),
        },
        name,
        { state: 'OPEN', openedAt: now },
      );
    }
    const { key: windowKey, windowStart, windowMs } = this.window(name);
    const { Attributes } = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: windowKey,
        UpdateExpression: 'ADD failures :one SET #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
        ExpressionAttributeNames: { '#expiresAt': CIRCUIT_KEYS.ttlAttribute },
        ExpressionAttributeValues: marshall({
          ':one': 1,
          ':expiresAt': Math.ceil((windowStart + 2 * windowMs) / 1000),
        }),
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    // Past the threshold each failure tries to open; the condition lets only the first succeed.
    if (Number(Attributes?.failures?.N) < this.settings.failureThreshold) return false;
    return this.conditional(
      {
        Key: marshall({ [CIRCUIT_KEYS.partitionKey]: stateKey(name) }),
        UpdateExpression: 'SET #state = :open, openedAt = :now',
        ConditionExpression: 'attribute_not_exists(#state)',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: marshall({ ':open': 'OPEN', ':now': now }),
      },
      name,
      { state: 'OPEN', openedAt: now },
    );
  }

  /** One container wins the move to half-open: the condition names the state it saw. */
  private claimProbe(name: string, seen: StoredState): Promise<boolean> {
    const now = this.now();
    const sameAsSeen =
      seen.state === 'OPEN'
        ? '#state = :open AND openedAt = :openedAt'
        : '#state = :half AND probeStartedAt = :probeStartedAt';
    return this.conditional(
      {
        Key: marshall({ [CIRCUIT_KEYS.partitionKey]: stateKey(name) }),
        UpdateExpression: 'SET #state = :half, probeStartedAt = :now, probeOwner = :me',
        ConditionExpression: sameAsSeen,
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: marshall(
          {
            ':open': 'OPEN',
            ':half': 'HALF_OPEN',
            ':now': now,
            ':me': this.containerId,
            ':openedAt': seen.openedAt,
            ':probeStartedAt': seen.probeStartedAt,
          },
          { removeUndefinedValues: true },
        ),
      },
      name,
      { ...seen, state: 'HALF_OPEN', probeStartedAt: now, probeOwner: this.containerId },
    );
  }

  /** A conditional update; on success the cache takes `next`, on a lost race the entry is dropped. */
  private async conditional(
    input: Omit<ConstructorParameters<typeof UpdateItemCommand>[0], 'TableName'>,
    name: string,
    next: StoredState | undefined,
  ): Promise<boolean> {
    try {
      await this.client.send(new UpdateItemCommand({ TableName: this.tableName, ...input }));
      this.cache.set(name, { state: next, until: this.now() + this.settings.cacheTtlMs });
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      this.cache.delete(name);
      return false;
    }
  }

  /**
   * The cached state, or one read for every caller that finds the cache stale at the same time: a
   * batch chunk sends its requests at once, and each would otherwise read.
   */
  private async read(name: string): Promise<StoredState | undefined> {
    const cached = this.cache.get(name);
    if (cached && cached.until > this.now()) return cached.state;
    let reading = this.reading.get(name);
    if (!reading) {
      reading = this.fetch(name).finally(() => this.reading.delete(name));
      this.reading.set(name, reading);
    }
    return reading;
  }

  private async fetch(name: string): Promise<StoredState | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ [CIRCUIT_KEYS.partitionKey]: stateKey(name) }),
        ConsistentRead: true,
      }),
    );
    const parsed = Item ? StateSchema.safeParse(unmarshall(Item)) : undefined;
    const state = parsed?.success ? parsed.data : undefined;
    this.cache.set(name, { state, until: this.now() + this.settings.cacheTtlMs });
    return state;
  }
}

const stateKey = (name: string) => `${name}@state`;
