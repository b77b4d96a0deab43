import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * X-Ray tracer. Imported only by functions that call AWS services: the X-Ray SDK it loads is the
 * largest part of a bundle, and the authorizer's cold start matters more than its trace.
 */
export const tracer = new Tracer();
