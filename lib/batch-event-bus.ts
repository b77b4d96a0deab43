import { EventBus } from 'aws-cdk-lib/aws-events';
import type { Grant } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import * as ENV from '../contracts/environment-variables';

/**
 * The event bus of this deployment's batch events (a job ended: docs/batch.md, "Job ended event").
 * A bus of the stack's own rather than the account's default bus: two deployments in one account
 * keep their events apart, the publishers' grant names this bus alone, and consumers' rules on it
 * see only the platform's events.
 */
export class BatchEventBus extends Construct {
  public readonly bus: EventBus;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.bus = new EventBus(this, 'Bus');
  }

  /** Tells `fn` the bus and lets it put events there (`events:PutEvents` on this bus only). */
  public bindPublisher(fn: LambdaFunction): Grant {
    fn.addEnvironment(ENV.BATCH_EVENT_BUS_NAME, this.bus.eventBusName);
    return this.bus.grantPutEventsTo(fn);
  }
}
