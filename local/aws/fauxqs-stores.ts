import type { BuildAppOptions } from 'fauxqs';

type Stores = NonNullable<BuildAppOptions['stores']>;
export type S3Store = Stores['s3Store'];
export type SqsStore = Stores['sqsStore'];

/*
 * fauxqs keeps its state in store objects that `buildApp` takes (`stores`), but its package exports
 * their classes as types only. The persistent emulators build on those classes, so they are loaded
 * from the package's own files, next to the entry point it exports; package.json pins the version
 * whose store methods local/aws/s3.ts and local/aws/sqs.ts rely on.
 */
const entry = import.meta.resolve('fauxqs');
export const { S3Store } = (await import(new URL('s3/s3Store.js', entry).href)) as {
  S3Store: new () => S3Store;
};
export const { SqsStore } = (await import(new URL('sqs/sqsStore.js', entry).href)) as {
  SqsStore: new () => SqsStore;
};

/** The `stores` option with only some stores given: `buildApp` makes the ones it is not given. */
export function someStores(stores: Partial<Stores>): Stores {
  return stores as Stores;
}
