/**
 * Faults the local model server injects into SageMaker InvokeEndpoint calls, so tests and manual
 * runs can see how the platform copes with an endpoint that fails, throttles, slows down or goes
 * away. Set through the model server's `/local/faults` control route, which exists only locally.
 */
import * as z from 'zod';
import { unitOf } from '../seeded-random';

/** What happens to the invocations of one endpoint (or of every endpoint, when `endpoint` is unset). */
export interface FaultPlan {
  /** The endpoint the plan applies to; unset for every endpoint without a plan of its own. */
  readonly endpoint?: string;
  /**
   * The next N invocations get `failStatus` from the container: ModelError (424) carrying that status,
   * as Triton would answer it (on a multi-model endpoint every error is 400, or 507 for running out of
   * memory); 0 is a container that gave no answer (it exited, or ran past SageMaker's 60 s).
   */
  readonly failNext: number;
  readonly failStatus: number;
  /** The next N invocations are refused by SageMaker itself: ThrottlingException (400). */
  readonly throttleNext: number;
  /** The next N invocations are refused by SageMaker itself: ServiceUnavailable (503). */
  readonly unavailableNext: number;
  /** Added before the container answers each invocation. */
  readonly latencyMs: number;
  /** While true, each invocation's connection is reset before any answer. */
  readonly down: boolean;
  /** After the counted faults, this share of invocations gets `failStatus`; listed only when set. */
  readonly failRate?: number;
  /** Seeds which invocations `failRate` picks, so a run repeats. */
  readonly seed?: number;
}

/** What to do with one invocation that reaches the endpoint. */
export interface InjectedFault {
  readonly latencyMs: number;
  readonly refusal?:
    | { readonly kind: 'fail'; readonly status: number }
    | { readonly kind: 'throttle' }
    | { readonly kind: 'unavailable' };
}

const count = z.number().int().min(0).max(1_000_000);

/** The body of `POST /local/faults`; each field given replaces that field of the plan in scope. */
export const faultUpdateSchema = z.strictObject({
  endpoint: z.string().min(1).optional(),
  failNext: count.optional(),
  failStatus: z.union([z.literal(0), z.number().int().min(400).max(599)]).optional(),
  throttleNext: count.optional(),
  unavailableNext: count.optional(),
  latencyMs: z.number().int().min(0).max(300_000).optional(),
  down: z.boolean().optional(),
  failRate: z.number().min(0).max(1).optional(),
  seed: z.number().int().optional(),
});
export type FaultUpdate = z.infer<typeof faultUpdateSchema>;

const ALL = '*';
const NO_FAULT: InjectedFault = { latencyMs: 0 };

export class FaultInjector {
  private readonly plans = new Map<string, Omit<FaultPlan, 'endpoint'>>();
  /** Invocations `failRate` has decided on, per scope: its draws are numbered, not timed. */
  private readonly draws = new Map<string, number>();

  /** Applies an update and returns the resulting plan of its scope. */
  update(update: FaultUpdate): FaultPlan {
    const scope = update.endpoint ?? ALL;
    const { endpoint: _, ...fields } = update;
    const plan = {
      failNext: 0,
      failStatus: 0,
      throttleNext: 0,
      unavailableNext: 0,
      latencyMs: 0,
      down: false,
      ...this.plans.get(scope),
      ...fields,
    };
    this.plans.set(scope, plan);
    if (update.failRate !== undefined || update.seed !== undefined) this.draws.set(scope, 0);
    return withScope(scope, plan);
  }

  /** Removes the plan of one endpoint, or every plan. */
  clear(endpoint?: string): void {
    if (endpoint === undefined) {
      this.plans.clear();
      this.draws.clear();
    } else {
      this.plans.delete(endpoint);
      this.draws.delete(endpoint);
    }
  }

  list(): FaultPlan[] {
    return [...this.plans].map(([scope, plan]) => withScope(scope, plan));
  }

  /** Whether `endpoint` is down: its invocations' connections are reset. */
  isDown(endpoint: string): boolean {
    return this.planFor(endpoint)?.plan.down ?? false;
  }

  /**
   * The fault for the next invocation of `endpoint`, consuming one of its counted faults. An
   * endpoint's own plan wins over the plan for every endpoint. Counted faults are used in the order
   * throttling, unavailability, then container failures.
   */
  next(endpoint: string): InjectedFault {
    const found = this.planFor(endpoint);
    if (found === undefined) return NO_FAULT;
    const { scope, plan } = found;
    const { latencyMs } = plan;
    if (plan.throttleNext > 0) {
      this.plans.set(scope, { ...plan, throttleNext: plan.throttleNext - 1 });
      return { latencyMs, refusal: { kind: 'throttle' } };
    }
    if (plan.unavailableNext > 0) {
      this.plans.set(scope, { ...plan, unavailableNext: plan.unavailableNext - 1 });
      return { latencyMs, refusal: { kind: 'unavailable' } };
    }
    if (plan.failNext > 0) {
      this.plans.set(scope, { ...plan, failNext: plan.failNext - 1 });
      return { latencyMs, refusal: { kind: 'fail', status: plan.failStatus } };
    }
    if (plan.failRate) {
      const draw = (this.draws.get(scope) ?? 0) + 1;
      this.draws.set(scope, draw);
      if (unitOf(plan.seed ?? 1, draw) < plan.failRate) {
        return { latencyMs, refusal: { kind: 'fail', status: plan.failStatus } };
      }
    }
    return { latencyMs };
  }

  private planFor(endpoint: string): { scope: string; plan: Omit<FaultPlan, 'endpoint'> } | undefined {
    const scope = this.plans.has(endpoint) ? endpoint : ALL;
    const plan = this.plans.get(scope);
    return plan === undefined ? undefined : { scope, plan };
  }
}

function withScope(scope: string, plan: Omit<FaultPlan, 'endpoint'>): FaultPlan {
  return scope === ALL ? plan : { endpoint: scope, ...plan };
}
