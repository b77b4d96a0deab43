import { setTimeout } from 'node:timers/promises';
import type { Alias, ModelSummary, ModelVersion } from '../../../contracts/registry-schemas';
import type * as z from '../../../contracts/zod';
import { BadRequestError, ConflictError, NotFoundError } from '../../edge/errors';
import type { Page } from '../../edge/page-token';
import type { ListModelsQuerySchema, PutAliasSchema, VersionPatchSchema } from '../../registry/api-schemas';
import { refuseUninvokableBackends } from '../../registry/backend-access';
import type { ModelCache } from '../../registry/model-cache';
import { type Model, type ModelRegistry, versionNotFound } from '../../registry/registry';

/** Writes of one alias tried before a request gives up to others that keep changing it. */
const ALIAS_WRITE_ATTEMPTS = 10;

export {
  ListModelsQuerySchema,
  PutAliasSchema,
  RegisterVersionSchema,
  VersionPatchSchema,
} from '../../registry/api-schemas';

/**
 * The registry's control plane: the rules that keep versions and aliases consistent, on top of the
 * single-item writes of ModelRegistry. Every write invalidates this container's cache entry, so the
 * container that made a change reads it back at once.
 */
export class RegistryService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly cache: Pick<ModelCache, 'invalidate'>,
    /** The endpoints a backend may name: those the functions may invoke. */
    private readonly invokableEndpoints: readonly string[],
    private readonly now: () => string = () => new Date().toISOString(),
  ) {}

  /** Registers a version as a client describes it, or as the upload check derived it (`LOADING`). */
  async register(input: Omit<ModelVersion, 'createdAt' | 'updatedAt'>): Promise<ModelVersion> {
    refuseUninvokableBackends(input.backends, this.invokableEndpoints);
    const now = this.now();
    const stored = await this.registry.putVersion({ ...input, createdAt: now, updatedAt: now });
    this.cache.invalidate(input.name);
    return stored;
  }

  list(query: z.output<typeof ListModelsQuerySchema>): Promise<Page<ModelSummary>> {
    return this.registry.listModels(query.limit, query.nextToken);
  }

  async getModel(name: string): Promise<Model> {
    const model = await this.registry.getModel(name);
    if (!model) throw new NotFoundError(`model '${name}' is not found`);
    return model;
  }

  async getVersion(name: string, version: string): Promise<ModelVersion> {
    const found = await this.registry.getVersion(name, version);
    if (!found) throw versionNotFound(name, version);
    return found;
  }

  /** Disabling a version that an alias routes to would break the alias: 409 until the alias moves. */
  async updateVersion(name: string, version: string, patch: z.output<typeof VersionPatchSchema>) {
    if (patch.backends) refuseUninvokableBackends(patch.backends, this.invokableEndpoints);
    if (patch.status === 'DISABLED') await this.refuseIfRouted(name, version, 'disable');
    if (patch.status === 'ACTIVE') await this.refuseUnwarmed(name, version);
    const updated = await this.registry.updateVersion(name, version, patch, this.now());
    this.cache.invalidate(name);
    return updated;
  }

  /** A registered version whose warm-up could not be queued: FAILED, with why. */
  async failUnqueued(name: string, version: string, cause: string): Promise<void> {
    await this.registry.updateVersion(
      name,
      version,
      { status: 'FAILED', statusReason: `its warm-up could not be queued: ${cause}` },
      this.now(),
    );
    this.cache.invalidate(name);
  }

  async deleteVersion(name: string, version: string): Promise<void> {
    await this.refuseIfRouted(name, version, 'delete');
    await this.registry.deleteVersion(name, version);
    this.cache.invalidate(name);
  }

  /**
   * Every routed version must exist and be active. The write is conditional on the alias as read, and
   * read again when another write came first, so `previousRoutes` is always the routes it replaced.
   */
  async putAlias(name: string, alias: string, input: z.output<typeof PutAliasSchema>): Promise<Alias> {
    for (let attempt = 1; ; attempt++) {
      const model = await this.getModel(name);
      refuseUnroutable(model, alias, input.routes);
      const now = this.now();
      const existing = model.aliases.find((a) => a.alias === alias);
      // A rollback restores the routes the alias had before its last move; a write that changes
      // nothing keeps the earlier ones, so a repeated promote does not erase the way back.
      const unchanged = existing !== undefined && sameRoutes(existing.routes, input.routes);
      const previousRoutes = unchanged ? existing.previousRoutes : existing?.routes;
      const stored: Alias = {
        name,
        alias,
        routes: input.routes,
        ...(previousRoutes ? { previousRoutes } : {}),
        createdAt: existing?.createdAt ?? now,
        // Always later than the write it replaces, so that no two writes of the alias share the
        // `updatedAt` the next one is conditional on, even within a millisecond.
        updatedAt: after(now, existing?.updatedAt),
      };
      if (await this.registry.putAlias(stored, existing ?? null)) {
        this.cache.invalidate(name);
        return stored;
      }
      if (attempt === ALIAS_WRITE_ATTEMPTS) {
        throw new ConflictError(
          `alias '${alias}' of model '${name}' is being changed by another request; retry`,
        );
      }
      // Jittered, so writers that collided do not collide again.
      await setTimeout(Math.random() * 20 * attempt);
    }
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.registry.deleteAlias(name, alias);
    this.cache.invalidate(name);
  }

  /** Only a successful warm-up makes a pushed version ACTIVE. */
  private async refuseUnwarmed(name: string, version: string): Promise<void> {
    const found = await this.getVersion(name, version);
    if (found.status === 'LOADING' || found.status === 'FAILED') {
      throw new ConflictError(
        `model '${name}' version ${version} is ${found.status}: only its warm-up makes it ACTIVE; push it again to retry`,
      );
    }
  }

  // Without transactions a concurrent alias write can still slip in between this check and the
  // write; the data plane then answers 404 for that share until the alias is corrected.
  private async refuseIfRouted(name: string, version: string, action: string): Promise<void> {
    const model = await this.registry.getModel(name);
    const routing = model?.aliases
      .filter((a) => a.routes.some((r) => r.version === version))
      .map((a) => a.alias);
    if (routing?.length) {
      throw new ConflictError(
        `cannot ${action} model '${name}' version ${version}: alias ${routing.map((a) => `'${a}'`).join(', ')} routes to it`,
      );
    }
  }
}

type Routes = Alias['routes'];

/** Every version an alias routes to must exist and be ACTIVE. */
function refuseUnroutable(model: Model, alias: string, routes: Routes): void {
  for (const route of routes) {
    const version = model.versions.find((v) => v.version === route.version);
    if (!version) {
      throw new BadRequestError(
        `alias '${alias}' routes to version ${route.version}, which is not an active version`,
      );
    }
    // A version still warming up, or whose warm-up failed, would answer every routed request 503/409.
    if (version.status !== 'ACTIVE') {
      throw new ConflictError(
        `alias '${alias}' cannot route to version ${route.version}: it is ${version.status}, not ACTIVE${version.statusReason ? ` (${version.statusReason})` : ''}`,
      );
    }
  }
}

/** Same versions with the same weights, in any order. */
function sameRoutes(a: Routes, b: Routes): boolean {
  const weights = new Map(a.map((r) => [r.version, r.weight]));
  return a.length === b.length && b.every((r) => weights.get(r.version) === r.weight);
}

/** `now`, or a millisecond after `earlier` if `now` is not later than it (ISO 8601 times). */
function after(now: string, earlier: string | undefined): string {
  if (earlier === undefined || now > earlier) return now;
  const next = Date.parse(earlier) + 1;
  return Number.isNaN(next) ? now : new Date(next).toISOString();
}
