import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { promotedRoutes } from '../../cli/commands/models';
import { EXIT_FAILURE, EXIT_USAGE } from '../../cli/errors';
import { runWith } from '../helpers/cli-run';

const model = (aliases: unknown[]) => ({ status: 200, body: { name: 'adder', versions: [], aliases } });

describe('promotedRoutes', () => {
  it('gives the whole alias to the version at 100 %', () => {
    expect(promotedRoutes([{ version: '1', weight: 100 }], '2', 100)).toEqual([
      { version: '2', weight: 100 },
    ]);
  });

  it('shares the rest among the other versions in proportion, largest remainders first', () => {
    expect(promotedRoutes([{ version: '1', weight: 100 }], '2', 10)).toEqual([
      { version: '1', weight: 90 },
      { version: '2', weight: 10 },
    ]);
    expect(
      promotedRoutes(
        [
          { version: '1', weight: 50 },
          { version: '2', weight: 50 },
        ],
        '3',
        33,
      ),
    ).toEqual([
      { version: '1', weight: 34 },
      { version: '2', weight: 33 },
      { version: '3', weight: 33 },
    ]);
    // The promoted version's own share is replaced, not added to.
    expect(
      promotedRoutes(
        [
          { version: '1', weight: 90 },
          { version: '2', weight: 10 },
        ],
        '2',
        50,
      ),
    ).toEqual([
      { version: '1', weight: 50 },
      { version: '2', weight: 50 },
    ]);
  });

  it('has nothing to share when no other version is routed', () => {
    expect(promotedRoutes([], '2', 10)).toEqual([]);
  });
});

describe('models promote, rollback and delete', () => {
  it('promote puts the alias with the new share', async () => {
    const result = await runWith(
      ['models', 'promote', 'adder', '2', '--weight', '10'],
      [model([{ alias: 'live', routes: [{ version: '1', weight: 100 }] }]), { status: 200, body: {} }],
    );
    expect(result.code).toBe(0);
    expect(result.calls[1]).toEqual({
      method: 'PUT',
      path: '/v1/models/adder/aliases/live',
      body: {
        routes: [
          { version: '1', weight: 90 },
          { version: '2', weight: 10 },
        ],
      },
    });
    expect(result.stderr).toContain('version 2 10 %');
  });

  it.each([
    ['promote', ['models', 'promote', 'adder', 'v2']],
    ['delete', ['models', 'delete', 'adder', 'latest']],
  ])('%s refuses a version that is no number before any request', async (_, argv) => {
    const result = await runWith(argv);
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr).toMatch(/<version> must be a positive integer, got '(v2|latest)'/);
    expect(result.calls).toEqual([]);
  });

  it('promote refuses a weight outside 1 to 100 before any request', async () => {
    const result = await runWith(['models', 'promote', 'adder', '2', '--weight', '0']);
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.calls).toEqual([]);
  });

  it('promote of a share fails when the alias has no other version to keep the rest', async () => {
    const result = await runWith(
      ['models', 'promote', 'adder', '2', '--weight', '10', '--alias', 'new'],
      [model([])],
    );
    expect(result.code).toBe(EXIT_FAILURE);
    expect(result.stderr).toContain("alias 'new'");
    expect(result.calls).toHaveLength(1);
  });

  it('rollback puts back the routes the alias had before', async () => {
    const result = await runWith(
      ['models', 'rollback', 'adder'],
      [
        model([
          {
            alias: 'live',
            routes: [{ version: '2', weight: 100 }],
            previousRoutes: [{ version: '1', weight: 100 }],
          },
        ]),
        { status: 200, body: {} },
      ],
    );
    expect(result.code).toBe(0);
    expect(result.calls[1]).toEqual({
      method: 'PUT',
      path: '/v1/models/adder/aliases/live',
      body: { routes: [{ version: '1', weight: 100 }] },
    });
  });

  it('rollback fails on an alias that never moved', async () => {
    const result = await runWith(
      ['models', 'rollback', 'adder'],
      [model([{ alias: 'live', routes: [{ version: '1', weight: 100 }] }])],
    );
    expect(result.code).toBe(EXIT_FAILURE);
    expect(result.stderr).toContain('nothing to roll back to');
  });

  it('delete deletes the version and reports the API refusal otherwise', async () => {
    const deleted = await runWith(['models', 'delete', 'adder', '2'], [{ status: 204 }]);
    expect(deleted.code).toBe(0);
    expect(deleted.calls).toEqual([{ method: 'DELETE', path: '/v1/models/adder/versions/2' }]);
    const refused = await runWith(
      ['models', 'delete', 'adder', '1'],
      [{ status: 409, body: { error: "alias 'live' routes to version 1", code: 'CONFLICT' } }],
    );
    expect(refused.code).toBe(EXIT_FAILURE);
    expect(refused.stderr).toContain('409');
  });
});

describe('models push waiting for the warm-up', () => {
  const dir = 'triton-image/model_repository/simple';
  const version = (status: string, statusReason?: string) => ({
    status: 200,
    body: { name: 'simple', version: '1', status, ...(statusReason ? { statusReason } : {}) },
  });
  const stored = { status: 200, body: { archive: 'simple-0123456789abcdef.tar.gz', mode: 'stored' } };
  const completed = { ...version('LOADING'), status: 201 };

  it('prints each status change and the version once it is ACTIVE', async () => {
    // Act
    const result = await runWith(
      ['models', 'push', dir],
      [stored, completed, version('LOADING'), version('ACTIVE')],
    );
    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(
      /pushed simple version 1 \(.*\): LOADING\n(.|\n)*simple version 1: ACTIVE\n/,
    );
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'ACTIVE' });
    expect(result.calls.slice(2).map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /v1/models/simple/versions/1',
      'GET /v1/models/simple/versions/1',
    ]);
  });

  it('exits non-zero with the reason when the warm-up FAILED', async () => {
    // Act
    const result = await runWith(
      ['models', 'push', dir],
      [
        stored,
        completed,
        version(
          'FAILED',
          'the model rejected the request: a pytorch model runs only on the deployed endpoint',
        ),
      ],
    );
    // Assess
    expect(result.code).toBe(EXIT_FAILURE);
    expect(result.stderr).toMatch(/simple version 1: FAILED\n/);
    expect(result.stderr).toMatch(/FAILED its warm-up: the model rejected the request: a pytorch model/);
  });

  it('returns at once, LOADING, with --no-wait', async () => {
    // Act
    const result = await runWith(['models', 'push', dir, '--no-wait'], [stored, completed]);
    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'LOADING' });
    expect(result.calls).toHaveLength(2);
  });

  it.each([
    [['--version', 'abc'], "--version must be a positive integer, got 'abc'"],
    [['--version', '0'], "--version must be a positive integer, got '0'"],
    [
      ['--name', '.simple'],
      "model name '.simple' must be 1-64 letters, digits, _ . - and start alphanumeric",
    ],
  ])('refuses %j as a usage error before it sends anything', async (flags, message) => {
    const result = await runWith(['models', 'push', dir, ...flags]);
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr).toContain(message);
    expect(result.calls).toEqual([]);
  });

  it('refuses a bad --timeout before it sends anything', async () => {
    const result = await runWith(['models', 'push', dir, '--timeout', 'abc']);
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr).toMatch(/--timeout must be/);
    expect(result.calls).toEqual([]);
  });

  it('packs a folder reached through a symbolic link as the folder it links to, under the name given', async () => {
    const links = mkdtempSync(path.join(tmpdir(), 'cli-push-'));
    try {
      symlinkSync(path.resolve(dir), path.join(links, 'simple'));
      const result = await runWith(
        ['models', 'push', path.join(links, 'simple'), '--no-wait'],
        [stored, completed],
      );
      expect(result.code).toBe(0);
      expect(result.calls[0]).toMatchObject({ method: 'POST', path: '/v1/models/simple/versions/1/upload' });
    } finally {
      rmSync(links, { recursive: true, force: true });
    }
  });

  it('answers a folder it cannot pack with a usage error, not a stack trace', async () => {
    const hidden = mkdtempSync(path.join(tmpdir(), 'cli-push-'));
    try {
      const model = path.join(hidden, '.simple');
      cpSync(dir, model, { recursive: true });
      const result = await runWith(['models', 'push', model, '--name', 'simple']);
      expect(result.code).toBe(EXIT_USAGE);
      expect(result.stderr).toMatch(/cannot pack/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.calls).toEqual([]);
    } finally {
      rmSync(hidden, { recursive: true, force: true });
    }
  });
});

describe('the API token', () => {
  it.each([
    ['a line break', 'secret-part1\nsecret-part2'],
    ['a space', 'secret part'],
    ['a non-ASCII character', 'secrét'],
  ])('holding %s is a usage error that does not print it', async (_, token) => {
    const result = await runWith(['models', 'list', '--token', token]);
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr).toMatch(/holds a character a bearer token cannot have/);
    expect(result.stderr).not.toContain('secret');
    expect(result.calls).toEqual([]);
  });
});
