/**
 * fast-check generators of hostile HTTP requests for the local platform, built from the route table
 * so that a new route is fuzzed without touching this file.
 */
import fc from 'fast-check';
import { DATATYPES } from '../../../contracts/model-signature';
import { matchRoute, ROUTES, type Route } from '../../../contracts/routes';
import { LOCAL_STANDBY_ENDPOINT } from '../../../local/platform';
import { simpleBinaryRequest } from '../binary-requests';
import { type FuzzRequest, resolvedPath } from './exchange';
import { largestLabels, largestRegistration } from './registry-bodies';

/** Registry writes only ever name models with this prefix, so the seeded models stay as they are. */
export const FUZZ_MODEL_PREFIX = 'fuzz-';
/** Models the later assertions rely on: never the target of a registry write. */
export const PROTECTED_MODELS: readonly string[] = ['simple', 'iris'];

export interface FuzzContext {
  /** Bearer tokens: one with every scope (most requests, so they reach the handlers) and one with none. */
  readonly tokens: { readonly all: string; readonly none: string };
  /** A job the all-scope token owns, so the job routes get past "not found". */
  readonly jobId: string;
}

// ---------------------------------------------------------------------------------------------
// values

const SIMPLE_INPUT = (name: string) => ({
  name,
  shape: [1, 16],
  datatype: 'INT32',
  data: Array.from({ length: 16 }, (_, i) => i),
});
const simpleBody = () => ({ inputs: [SIMPLE_INPUT('INPUT0'), SIMPLE_INPUT('INPUT1')] });
const irisBody = (rows: number) => ({
  inputs: [
    {
      name: 'FEATURES',
      shape: [rows, 4],
      datatype: 'FP32',
      data: Array.from({ length: rows * 4 }, (_, i) => 1 + (i % 7) / 2),
    },
  ],
});

const fuzzModelName = fc.oneof(
  fc.constantFrom('a', 'b', 'c').map((s) => `${FUZZ_MODEL_PREFIX}${s}`),
  fc.stringMatching(/^[a-z0-9_.-]{1,20}$/).map((s) => `${FUZZ_MODEL_PREFIX}${s}`),
);
const versionValue = fc.oneof(
  fc.constantFrom('1', '2', '3'),
  fc.integer({ min: 1, max: 9_999_999 }).map(String),
);
const aliasValue = fc.oneof(fc.constantFrom('prod', 'canary'), fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/));

/** Values that have broken parsers before: wrong types, extremes, NaN-ish text, prototype keys. */
const nastyScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -0,
    -1,
    1.5,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 53 + 1,
    1e308,
    -1e308,
    5e-324,
    'NaN',
    'Infinity',
    '-Infinity',
    '1e999',
    '',
    ' ',
    '0x10',
    '__proto__',
    'constructor',
    '\u0000',
    '\ud800',
    '😀'.repeat(50),
    'A'.repeat(70_000),
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => Number(n)),
);

/** Nested arrays or objects; shallow enough for this process's JSON.stringify (`serialized` nests deeper as text). */
const deepNesting = fc
  .record({ depth: fc.integer({ min: 50, max: 2_000 }), kind: fc.constantFrom('array', 'object') })
  .map(({ depth, kind }) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { a: value };
    return value;
  });

/** Keys that name Object.prototype members: code that reads objects as maps trips on them. */
const BUILT_IN_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'length'];
const objectKey = fc.oneof(
  { arbitrary: fc.string({ maxLength: 10 }), weight: 3 },
  { arbitrary: fc.constantFrom(...BUILT_IN_KEYS), weight: 2 },
);

/** Strings near and past the lengths the schemas allow, and far past them. */
const longString = fc
  .constantFrom(129, 257, 1_025, 70_000, 1_000_000)
  .chain((length) => fc.constantFrom('a', '€', '😀').map((c) => c.repeat(Math.ceil(length / c.length))));

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: nastyScalar, weight: 6 },
  { arbitrary: fc.constantFrom([], {}, [null], [[]], { inputs: [] }), weight: 2 },
  { arbitrary: deepNesting, weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  { arbitrary: longString, weight: 1 },
);

// BF16 is Triton's, but no model here declares it.
const FUZZ_DATATYPES = [...DATATYPES, 'BF16'];

// ---------------------------------------------------------------------------------------------
// mutation of a valid-shaped JSON document

type Json = unknown;
/** Paths to every value in a document (objects and arrays included). */
function pathsOf(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (out.length > 200) return out;
  if (Array.isArray(value)) {
    for (const [i, v] of value.slice(0, 20).entries()) pathsOf(v, [...prefix, i], out);
  } else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
  return out;
}

function updateAt(
  doc: Json,
  path: readonly (string | number)[],
  update: (old: Json) => Json | undefined,
): Json {
  if (path.length === 0) return update(doc);
  const [head, ...rest] = path;
  if (Array.isArray(doc)) {
    const copy = [...doc];
    const next = updateAt(copy[head as number], rest, update);
    if (next === undefined && rest.length === 0) copy.splice(head as number, 1);
    else copy[head as number] = next;
    return copy;
  }
  if (doc && typeof doc === 'object') {
    const copy: Record<string, Json> = { ...(doc as Record<string, Json>) };
    const next = updateAt(copy[head as string], rest, update);
    if (next === undefined && rest.length === 0) delete copy[head as string];
    else copy[head as string] = next;
    return copy;
  }
  return doc;
}

type Mutation = (doc: Json) => fc.Arbitrary<Json>;
const atRandomPath =
  (change: (old: Json) => fc.Arbitrary<Json | undefined>): Mutation =>
  (doc) =>
    fc
      .constantFrom(...pathsOf(doc))
      .chain((path) =>
        change(path.reduce<Json>((v, k) => (v as Record<string, Json>)?.[k], doc)).map((n) =>
          updateAt(doc, path, () => n),
        ),
      );

const MUTATIONS: Mutation[] = [
  atRandomPath(() => fc.constant(undefined)), // drop the field
  atRandomPath(() => nastyValue), // wrong type or extreme value
  atRandomPath((old) =>
    old && typeof old === 'object' && !Array.isArray(old)
      ? fc.tuple(objectKey, nastyValue).map(([k, v]) => ({ ...old, [k]: v }))
      : fc.constant(old),
  ), // an unknown field
  atRandomPath((old) =>
    Array.isArray(old)
      ? fc.oneof(
          fc.constant(old.slice(1)),
          fc.constant([...old, ...old]),
          nastyValue.map((v) => [...old, v]),
          fc.integer({ min: 1000, max: 100_000 }).map((n) => Array(n).fill(old[0] ?? 1)),
        )
      : fc.constant(old),
  ), // arrays too short, too long or holding junk
  // tensors: shapes, datatypes and element counts that disagree with the model
  atRandomPath((old) =>
    old && typeof old === 'object' && 'datatype' in old
      ? fc.oneof(
          fc
            .array(fc.oneof(fc.integer({ min: -2, max: 20 }), fc.constantFrom(0, 1e9, 2 ** 53, 1.5)), {
              maxLength: 4,
            })
            .map((shape) => ({ ...old, shape })),
          fc.constantFrom(...FUZZ_DATATYPES, 'int32', 'FLOAT', '').map((datatype) => ({ ...old, datatype })),
          fc.integer({ min: 0, max: 70 }).map((n) => ({
            ...old,
            data: Array.from({ length: n }, (_, i) => i),
          })),
          fc.array(nastyScalar, { maxLength: 20 }).map((data) => ({ ...old, data })),
          fc.constant({ ...old, data: [(old as { data?: unknown }).data] }), // nested data
          fc.constant({ ...old, parameters: { binary_data_size: 64 } }),
        )
      : fc.constant(old),
  ),
];

/** A document mutated one to three times. */
const mutated = (doc: Json): fc.Arbitrary<Json> =>
  fc
    .array(fc.constantFrom(...MUTATIONS), { minLength: 1, maxLength: 3 })
    .chain((mutations) =>
      mutations.reduce<fc.Arbitrary<Json>>(
        (acc, mutation) => acc.chain((d) => mutation(d)),
        fc.constant(doc),
      ),
    );

/** The document as text, or as text the JSON grammar does not quite allow. */
const serialized = (doc: Json): fc.Arbitrary<string> => {
  const text = JSON.stringify(doc) ?? 'null';
  return fc.oneof(
    { arbitrary: fc.constant(text), weight: 6 },
    // a duplicate key in front: JSON.parse keeps the last, other parsers the first
    {
      arbitrary: fc
        .tuple(
          fc.constantFrom(...Object.keys(doc && typeof doc === 'object' ? doc : {}), 'inputs'),
          nastyValue,
        )
        .map(([key, value]) =>
          text.startsWith('{')
            ? `{${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'},${text.slice(1)}`
            : text,
        ),
      weight: 2,
    },
    { arbitrary: fc.nat({ max: Math.max(0, text.length - 1) }).map((n) => text.slice(0, n)), weight: 2 }, // truncated
    {
      arbitrary: fc.constantFrom(
        `\ufeff${text}`,
        `${text}garbage`,
        `${text}${text}`,
        text.replace(/\d+/, 'NaN'),
        text.replace(/\d+/, 'Infinity'),
        text.replace(/"/, "'"),
        `[${text}]`,
        `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      ),
      weight: 1,
    },
    { arbitrary: hostileText(text), weight: 3 },
    // a deeply nested first element in the first arrays (tensor data, items, inputs): still valid JSON
    {
      arbitrary: fc.integer({ min: 1_000, max: 50_000 }).map((n) => {
        let left = 3;
        return text.replace(/\[(?=[^\]])/g, (open) =>
          left-- > 0 ? `[${'['.repeat(n)}1${']'.repeat(n)},` : open,
        );
      }),
      weight: 1,
    },
  );
};

/**
 * Numbers JSON can write but a datatype cannot hold: too large for a double (JSON.parse reads them
 * as Infinity), past FP32's or FP16's range, integers past 2^53 or 64 bits, and the edges just inside.
 */
const EXTREME_NUMBERS = [
  '1e309',
  '-1e309',
  '1e39',
  '-3.5e38',
  '3.4028234663852886e38',
  '1e308',
  '65520',
  '9007199254740993',
  '-9223372036854775809',
  '18446744073709551616',
  '2147483648',
  '-0',
  '5e-324',
];

/** Deeper than JSON.stringify recurses: 100 000 levels of arrays or objects (200 KB to 600 KB). */
const DEEP_VALUES = [
  `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
  `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`,
];

/**
 * A valid document's text with one hostile twist that keeps it valid JSON: an unknown field holding
 * a deeply nested value, at the top or inside the first object of an array; or an extreme number
 * literal in place of the first element of the first `data` array (the element count stays right).
 */
const hostileText = (text: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc
      .record({
        key: fc.constantFrom('extra', ...BUILT_IN_KEYS),
        value: fc.constantFrom(...DEEP_VALUES),
        nested: fc.boolean(),
      })
      .map(({ key, value, nested }) => {
        const field = `${JSON.stringify(key)}:${value},`;
        const at = nested ? text.indexOf('[{') + 1 : 0;
        return text.startsWith('{') ? `${text.slice(0, at + 1)}${field}${text.slice(at + 1)}` : text;
      }),
    fc
      .constantFrom(...EXTREME_NUMBERS)
      .map((literal) => text.replace(/("data":\[)-?[\d.e+-]+/, `$1${literal}`)),
  );

// ---------------------------------------------------------------------------------------------
// bodies per route

/**
 * Labels that have failed the registry's table writes: keys naming built-in properties, an empty key,
 * and more or longer labels than a DynamoDB item holds (400 KB).
 */
const hostileLabels: fc.Arbitrary<Record<string, string>> = fc.oneof(
  fc.dictionary(fc.constantFrom(...BUILT_IN_KEYS, ''), fc.string({ maxLength: 8 }), { minKeys: 1 }),
  fc.constantFrom(10, 50, 51, 2_000).map(largestLabels),
  fc
    .integer({ min: 1, max: 3_000 })
    .map((count) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 'v'.repeat(250)]))),
);

interface RouteBodies {
  /** Documents the route accepts (or would, before mutation). */
  readonly valid: fc.Arbitrary<Json>;
}

/** Optional request fields of the protocol: id, chosen outputs, binary and classification outputs. */
const inferenceExtras = (output: string) =>
  fc.record(
    {
      id: fc.oneof({ arbitrary: fc.constant('fuzz'), weight: 4 }, { arbitrary: longString, weight: 1 }),
      outputs: fc.constantFrom(
        [{ name: output }],
        [{ name: output, parameters: { binary_data: true } }],
        [{ name: output, parameters: { classification: 2 } }],
      ),
      parameters: fc.constantFrom({ binary_data_output: true }, { binary_data_output: false }),
    },
    { requiredKeys: [] },
  );

function validBodies(route: Route, params: Record<string, string>): RouteBodies | undefined {
  const key = `${route.method} ${route.path}`;
  if (route.path.endsWith('/infer')) {
    return {
      valid:
        params.model === 'iris'
          ? fc
              .record({ rows: fc.integer({ min: 1, max: 8 }), extras: inferenceExtras('PROBABILITIES') })
              .map(({ rows, extras }) => ({ ...irisBody(rows), ...extras }))
          : inferenceExtras('OUTPUT0').map((extras) => ({ ...simpleBody(), ...extras })),
    };
  }
  switch (key) {
    case 'POST /v1/models':
      return {
        valid: fc
          .record({ name: fuzzModelName, version: versionValue })
          .map(({ name, version }) => ({
            name,
            version,
            platform: 'onnxruntime_onnx',
            inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] }],
            outputs: [{ name: 'OUTPUT0', datatype: 'INT32', shape: [-1, 16] }],
            maxBatchSize: 8,
            // an invokable endpoint but a model it does not serve: its circuits are its own, never the seeded models'
            backends: [{ endpointName: LOCAL_STANDBY_ENDPOINT, targetModel: 'fuzz-model.tar.gz' }],
            description: 'fuzz',
            labels: { team: 'fuzz' },
          }))
          .chain((body) =>
            fc.oneof(
              { arbitrary: fc.constant(body), weight: 3 },
              { arbitrary: hostileLabels.map((labels) => ({ ...body, labels })), weight: 2 },
              // every bounded field at its bound: the largest version the API accepts
              {
                arbitrary: fc.constant({
                  ...largestRegistration(body.name, LOCAL_STANDBY_ENDPOINT),
                  version: body.version,
                }),
                weight: 1,
              },
            ),
          ),
      };
    case 'PATCH /v1/models/{model}/versions/{version}':
      return {
        valid: fc.record(
          {
            status: fc.constantFrom('ACTIVE', 'DISABLED'),
            description: fc.option(fc.string({ maxLength: 30 })),
            labels: fc.option(
              fc.oneof(
                fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })),
                hostileLabels,
              ),
            ),
            backends: fc.constant([
              { endpointName: LOCAL_STANDBY_ENDPOINT, targetModel: 'fuzz-model-2.tar.gz', weight: 50 },
            ]),
          },
          { requiredKeys: [] },
        ),
      };
    case 'PUT /v1/models/{model}/aliases/{alias}':
      return {
        valid: fc.oneof(
          fc.constant({ routes: [{ version: '1', weight: 100 }] }),
          fc.constant({
            routes: [
              { version: '1', weight: 90 },
              { version: '2', weight: 10 },
            ],
          }),
        ),
      };
    case 'POST /v1/batch-jobs':
      return {
        valid: fc
          .record({
            model: fc.constantFrom('simple', 'iris'),
            count: fc.integer({ min: 1, max: 3 }),
            version: fc.option(fc.constant('1'), { nil: undefined }),
          })
          .map(({ model, count, version }) => ({
            model,
            ...(version ? { version } : {}),
            items: Array.from({ length: count }, (_, i) => ({
              id: `fuzz-${i}`,
              inputs: model === 'iris' ? irisBody(1).inputs : simpleBody().inputs,
            })),
          })),
      };
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// path parameters and query strings

const JUNK_SEGMENTS = [
  '..',
  '.',
  '../..',
  '..%2F..%2Fhealth',
  '%2e%2e',
  '%00',
  'simple%00',
  'a%2Fb',
  '%2F',
  '%',
  '%zz',
  '%E0%A4%A',
  '%C0%AF',
  '%uD800',
  '~',
  "'",
  '"',
  '<script>',
  '$%7Bjndi:x%7D',
  '%20',
  '+',
  '-1',
  '0',
  '01',
  '1e3',
  '1.0',
  '99999999999',
  '18446744073709551616',
  'NaN',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  'toString',
  '*',
  'simple;drop',
  'SIMPLE',
  '%73imple',
];

/** Encodes what an HTTP client could not send raw (non-printable, non-ASCII), and nothing else. */
export const rawPathText = (text: string) =>
  Array.from(text)
    .map((c) => (/[\x21-\x7e]/.test(c) ? c : encodeURIComponent(c).replace(/%25/g, '%')))
    .join('');

const junkParam = fc.oneof(
  { arbitrary: fc.constantFrom(...JUNK_SEGMENTS), weight: 4 },
  {
    arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).map(encodeURIComponent),
    weight: 2,
  },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).map(rawPathText), weight: 1 },
  { arbitrary: fc.integer({ min: 65, max: 4000 }).map((n) => 'a'.repeat(n)), weight: 1 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._~-]{1,80}$/), weight: 2 },
);

function validParam(name: string, route: Route, context: FuzzContext): fc.Arbitrary<string> {
  const writes = route.function === 'models' && route.method !== 'GET';
  switch (name) {
    case 'model':
      return writes
        ? fuzzModelName
        : fc.constantFrom('simple', 'iris', ...(route.function === 'models' ? ['fuzz-a'] : []));
    case 'version':
      return versionValue;
    case 'alias':
      return aliasValue;
    case 'jobId':
      return fc.oneof(fc.constant(context.jobId), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/));
    default:
      return fc.string({ minLength: 1, maxLength: 10 }).map(encodeURIComponent);
  }
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
// Key values shaped like the tables' own, for tokens that decode but name another partition or item.
const keyAttribute = fc
  .oneof(
    fc.constantFrom(
      'MODELS',
      'MODEL#simple',
      'MODEL#iris',
      'VERSION#1',
      'OWNER#fuzz',
      'OWNER#someone',
      'JOB#x',
      '',
    ),
    fc.string({ maxLength: 40 }),
    fc.date({ noInvalidDate: true }).map((d) => `${d.toISOString()}#job`),
  )
  .map((S) => ({ S }));
const nextTokenJunk = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.constantFrom('', '=', '%', 'null', 'e30', 'W10', 'bnVsbA', '!!!!'),
  fc.integer({ min: 2049, max: 5000 }).map((n) => 'A'.repeat(n)),
  fc.jsonValue({ maxDepth: 2 }).map(base64url),
  // tokens that decode to a key or a results position: the right shape, naming anything
  fc
    .record({
      pk: keyAttribute,
      sk: keyAttribute,
      // mostly a partition a listing really has (the models, or the all-scope token's jobs)
      gsi1pk: fc.oneof(fc.constantFrom({ S: 'MODELS' }, { S: 'OWNER#fuzz' }), keyAttribute),
      gsi1sk: keyAttribute,
    })
    .map(base64url),
  fc
    .record({ chunk: fc.oneof(fc.nat(), fc.integer()), offset: fc.oneof(fc.nat(), fc.integer()) })
    .map(base64url),
);
const limitJunk = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '-1',
    '1',
    '1.5',
    '1e2',
    'NaN',
    'Infinity',
    '101',
    '1001',
    '0x10',
    ' 5',
    '5 ',
    '99999999999999999999',
    'null',
    '[]',
  ),
  fc.integer().map(String),
  fc.string({ maxLength: 10 }),
);

const queryString = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constant('limit'), limitJunk),
      fc.tuple(fc.constant('nextToken'), nextTokenJunk),
      fc.tuple(
        fc.constantFrom('access_token', 'version', 'model', '__proto__', 'constructor', 'toString', ''),
        fc.string({ maxLength: 20 }),
      ),
      fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 })),
    ),
    { maxLength: 4 },
  )
  .chain((pairs) =>
    fc.oneof(
      fc.constant(pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
      fc.constant(pairs.map(([k, v]) => `${rawPathText(k)}=${rawPathText(v)}`).join('&')), // unencoded &, =, %, +
      fc.constantFrom('&&&', '=', 'limit', 'limit=&limit=5', '%', 'a=%zz', 'limit[]=1', 'limit=1&limit=2'),
    ),
  );

// ---------------------------------------------------------------------------------------------
// headers

/** What Node's HTTP client lets through in a header value: tab, printable ASCII and Latin-1. */
const headerText = (text: string) => text.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');
const junkHeaderValue = fc.oneof(
  fc.string({ maxLength: 40 }).map(headerText),
  fc.string({ unit: 'binary', maxLength: 40 }).map(headerText),
  fc.integer({ min: 129, max: 2000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom('', ' ', 'null', '0', '-1', 'ÿÿÿ', 'a b', 'a\tb'),
);

type Header = readonly [string, string];
const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json; charset=latin1',
    'text/plain',
    'application/octet-stream',
    'Application/Octet-Stream; foo=bar',
    'application/vnd.sagemaker-triton.binary+json;json-header-size=0',
    'application/vnd.sagemaker-triton.binary+json;json-header-size=999999',
    'application/vnd.sagemaker-triton.binary+json;json-header-size=abc',
    'application/vnd.sagemaker-triton.binary+json',
    'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded',
    '',
    '*/*',
  ),
  junkHeaderValue,
);
const headerLength = fc.oneof(
  fc.constantFrom('0', '-1', 'abc', '1e3', '99999999999', '', ' 5', '5, 5', '0x10', '1.5'),
  fc.integer({ min: 0, max: 400 }).map(String),
);

function authorizationHeaders(context: FuzzContext): fc.Arbitrary<Header[]> {
  const { all, none } = context.tokens;
  return fc.oneof(
    { arbitrary: fc.constant<Header[]>([['Authorization', `Bearer ${all}`]]), weight: 12 },
    {
      arbitrary: fc.constantFrom<Header[]>(
        [['Authorization', `Bearer ${none}`]],
        [],
        [['Authorization', '']],
        [['Authorization', 'Bearer ']],
        [['Authorization', `bearer ${all}`]],
        [['Authorization', `Bearer ${all} junk`]],
        [['Authorization', `Basic ${Buffer.from('a:b').toString('base64')}`]],
        [
          ['Authorization', `Bearer ${all}`],
          ['Authorization', `Bearer ${none}`],
        ],
        [['Authorization', `Bearer ${all.slice(0, -4)}AAAA`]],
        [['authorization', `Bearer ${all}`]],
      ),
      weight: 3,
    },
    { arbitrary: junkHeaderValue.map<Header[]>((v) => [['Authorization', `Bearer ${v}`]]), weight: 1 },
  );
}

const extraHeaders: fc.Arbitrary<Header[]> = fc
  .array(
    fc.oneof(
      fc.tuple(
        fc.constant('Accept'),
        fc.oneof(
          fc.constantFrom(
            '*/*',
            'application/json',
            'application/octet-stream',
            'text/html',
            'application/octet-stream, application/json',
            '',
          ),
          junkHeaderValue,
        ),
      ),
      fc.tuple(
        fc.constant('X-Request-Id'),
        fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), junkHeaderValue),
      ),
      fc.tuple(
        fc.constant('Idempotency-Key'),
        fc.oneof(fc.stringMatching(/^[\x21-\x7e]{1,128}$/), junkHeaderValue),
      ),
      fc.tuple(
        fc.constant('Origin'),
        fc.oneof(
          fc.constantFrom('null', 'http://evil.example', 'http://127.0.0.1:3001', '*', 'file://'),
          junkHeaderValue,
        ),
      ),
      fc.tuple(fc.constant('Inference-Header-Content-Length'), headerLength),
      fc.tuple(
        fc.constantFrom(
          'Content-Encoding',
          'X-Forwarded-For',
          'X-Amzn-Trace-Id',
          'Cookie',
          // names that are also Object.prototype members
          '__proto__',
          'constructor',
          'toString',
        ),
        junkHeaderValue,
      ),
      fc.tuple(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,30}$/), junkHeaderValue),
    ),
    { maxLength: 4 },
  )
  .map((headers) => headers as Header[]);

// ---------------------------------------------------------------------------------------------
// requests

type BodyPart = { body?: string | Uint8Array; headers: Header[] };

function bodyFor(route: Route, params: Record<string, string>, hostile = false): fc.Arbitrary<BodyPart> {
  const bodies = validBodies(route, params);
  const json = (text: string): BodyPart => ({ body: text, headers: [['Content-Type', 'application/json']] });
  if (hostile && bodies) {
    return fc.oneof(
      bodies.valid.chain((doc) => hostileText(JSON.stringify(doc))).map(json),
      bodies.valid.chain(mutated).map((doc) => json(JSON.stringify(doc) ?? 'null')),
    );
  }
  const options: fc.WeightedArbitrary<BodyPart>[] = [
    // random bytes, random JSON, random text
    {
      arbitrary: fc
        .uint8Array({ maxLength: 2048 })
        .map((body) => ({ body, headers: [['Content-Type', 'application/json']] as Header[] })),
      weight: 1,
    },
    { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => json(JSON.stringify(v) ?? 'null')), weight: 1 },
    { arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }).map(json), weight: 1 },
    { arbitrary: fc.constant<BodyPart>({ headers: [] }), weight: 1 },
  ];
  if (bodies) {
    options.push(
      { arbitrary: bodies.valid.chain(serialized).map(json), weight: 2 },
      { arbitrary: bodies.valid.chain(mutated).chain(serialized).map(json), weight: 8 },
    );
  }
  if (route.path.endsWith('/infer')) {
    const simple = simpleBinaryRequest(
      Array.from({ length: 16 }, (_, i) => i),
      { binaryOutputs: false },
    );
    const body = simple.body;
    options.push({
      // binary framing with a header length that may be a lie, and a body that may stop early
      arbitrary: fc
        .record({
          length: fc.oneof(fc.constant(String(simple.headerLength)), headerLength),
          cut: fc.oneof(fc.constant(body.length), fc.nat({ max: body.length })),
          type: fc.constantFrom(
            'application/octet-stream',
            `application/vnd.sagemaker-triton.binary+json;json-header-size=${simple.headerLength}`,
          ),
          accept: fc.constantFrom('application/octet-stream', 'application/json', '*/*'),
        })
        .map(({ length, cut, type, accept }) => ({
          body: body.subarray(0, cut),
          headers: [
            ['Content-Type', type],
            ['Inference-Header-Content-Length', length],
            ['Accept', accept],
          ] as Header[],
        })),
      weight: 3,
    });
  }
  return fc.oneof(...options);
}

const paramNames = (route: Route) => Array.from(route.path.matchAll(/\{(\w+)\}/g), (m) => m[1]!);

function paramsFor(route: Route, context: FuzzContext, junkRate: number) {
  return fc.record(
    Object.fromEntries(
      paramNames(route).map((name) => [
        name,
        fc.oneof(
          { arbitrary: validParam(name, route, context), weight: 100 - junkRate },
          { arbitrary: junkParam, weight: junkRate },
        ),
      ]),
    ),
  ) as fc.Arbitrary<Record<string, string>>;
}

const fillPath = (route: Route, params: Record<string, string>) =>
  route.path.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? '');

export interface FuzzFocus {
  /** Percent of path parameters that are junk. */
  readonly junkParams: number;
  /** Whether to mutate headers (Content-Type, Accept, Origin, request ids, ...). */
  readonly headers: boolean;
  /** Whether to add a random query string. */
  readonly query: boolean;
  /** Whether the Authorization header varies. */
  readonly authorization: boolean;
  /** Sometimes use a method the route does not have. */
  readonly otherMethods?: boolean;
  /** Only these routes (default: all). */
  readonly routes?: (route: Route) => boolean;
  /**
   * Bodies only from valid documents with hostile but well-formed twists: deep unknown fields,
   * built-in property names as keys, extreme numbers, long strings, many or large labels.
   */
  readonly hostileBodies?: boolean;
}

/** Requests for every route of contracts/routes.ts, fuzzed where `focus` says. */
export function fuzzRequests(context: FuzzContext, focus: FuzzFocus): fc.Arbitrary<FuzzRequest> {
  const routes = ROUTES.filter(focus.routes ?? (() => true));
  const all = routes.map((route) =>
    paramsFor(route, context, focus.junkParams).chain((params) =>
      fc
        .record({
          body: bodyFor(route, params, focus.hostileBodies),
          auth: focus.authorization
            ? authorizationHeaders(context)
            : fc.constant<Header[]>([['Authorization', `Bearer ${context.tokens.all}`]]),
          extra: focus.headers ? extraHeaders : fc.constant<Header[]>([]),
          contentType: focus.headers ? fc.option(contentType, { freq: 2 }) : fc.constant(null),
          query: focus.query ? fc.option(queryString, { freq: 4, nil: undefined }) : fc.constant(undefined),
          method: focus.otherMethods
            ? fc.oneof(
                { arbitrary: fc.constant(route.method), weight: 8 },
                { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'), weight: 2 },
              )
            : fc.constant(route.method),
        })
        .map(({ body, auth, extra, contentType, query, method }): FuzzRequest => {
          let headers = [...body.headers, ...auth, ...extra];
          if (contentType !== null) {
            headers = [
              ...headers.filter(([name]) => name.toLowerCase() !== 'content-type'),
              ['Content-Type', contentType],
            ];
          }
          const path = fillPath(route, params);
          return {
            route: `${route.method} ${route.path}`,
            method,
            target: query === undefined ? path : `${path}?${query}`,
            headers,
            ...(body.body === undefined ? {} : { body: body.body }),
          };
        }),
    ),
  );
  // Routes that take a body get more of the cases: they have the most to parse.
  const weighted = all.map((arbitrary, i) => ({ arbitrary, weight: routes[i]!.method === 'GET' ? 1 : 3 }));
  return fc.oneof(...weighted).filter(leavesSeededModelsAlone);
}

/**
 * False for a request that could change `simple` or `iris` in the registry: a write whose resolved
 * path names one (junk like `../` can land anywhere), or a registration naming one.
 */
export function leavesSeededModelsAlone(request: FuzzRequest): boolean {
  let match: ReturnType<typeof matchRoute>;
  try {
    match = matchRoute(request.method, resolvedPath(request.target));
  } catch {
    return true;
  }
  if (typeof match === 'string' || match.route.function !== 'models' || match.route.method === 'GET')
    return true;
  if (PROTECTED_MODELS.includes(match.pathParameters.model ?? '')) return false;
  if (match.route.path !== '/v1/models' || request.body === undefined) return true;
  try {
    const text = typeof request.body === 'string' ? request.body : Buffer.from(request.body).toString('utf8');
    const name = (JSON.parse(text) as { name?: unknown } | null)?.name;
    return !PROTECTED_MODELS.includes(String(name));
  } catch {
    return true;
  }
}

/**
 * Inference requests and batch submissions for `simple` (INT32) and `iris` (FP32) with one element a
 * number literal that JSON can write but the input's datatype cannot hold.
 */
export function outOfRangeRequests(context: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const outOfRange = {
    iris: ['1e309', '-1e309', '1e39', '-3.5e38', '1e308', '3.4028236e38'],
    simple: ['1e309', '2147483648', '-2147483649', '9007199254740993', '1e20', '1.5'],
  };
  return fc
    .record({
      model: fc.constantFrom('iris', 'simple') as fc.Arbitrary<'iris' | 'simple'>,
      batch: fc.boolean(),
      index: fc.nat({ max: 3 }),
    })
    .chain(({ model, batch, index }) =>
      fc.constantFrom(...outOfRange[model]).map((literal): FuzzRequest => {
        const request = model === 'iris' ? irisBody(1) : simpleBody();
        const document = batch ? { model, items: [{ id: 'range', inputs: request.inputs }] } : request;
        // The element at `index` of the first input, written as the literal itself.
        const marker = 123_456_789;
        (request.inputs[0]!.data as number[])[index] = marker;
        const body = JSON.stringify(document).replace(String(marker), literal);
        return {
          route: batch ? 'POST /v1/batch-jobs' : 'POST /v2/models/{model}/infer',
          method: 'POST',
          target: batch ? '/v1/batch-jobs' : `/v2/models/${model}/infer`,
          headers: [
            ['Content-Type', 'application/json'],
            ['Authorization', `Bearer ${context.tokens.all}`],
          ],
          body,
        };
      }),
    );
}
