/**
 * The composition root of a fleet: the core's dependencies per scope, built on first
 * use and kept for the life of the process (a Lambda container, a CLI run). The table and the event
 * bus are the deployment's own; KMS, CloudHSM and Secrets Manager are called in the scope's Region,
 * with the deployment's credentials in its own scope and the member role's in any other (its own
 * account's other Regions too: the functions' roles are bound to their Region). Each scope has its
 * own token bucket, so one scope's mutations never wait for another's.
 */

import { type AwsClients, makeAwsClients, makeScopeClients, type StaticCredentials } from '../adapters/clients.js';
import type { DynamoStateAdapter } from '../adapters/dynamodb-store.js';
import { MemberCredentials } from '../adapters/sts.js';
import type { Config, FleetConfig } from '../config.js';
import type { Scope } from '../domain/types.js';
import type { ScopeRuntime } from '../fleet/reach-scope.js';
import { sameScope, scopeLabel } from '../fleet/scope.js';
import { makeLogger } from '../logger.js';
import type { Clock, ReconcileDeps } from '../reconcile/ports.js';
import { buildDeps, systemClock } from './deps.js';

/** Scopes whose clients one process keeps; past this the oldest are dropped (and rebuilt if seen again). */
const MAX_CACHED_SCOPES = 1000;

export interface FleetOptions {
  /** The deployment's own account (its Region is `config.region`). */
  accountId: string;
  /** Lease owner id of this process; {@link FleetRuntime.withOwner} gives one per invocation. */
  owner: string;
  clock?: Clock;
  /** Emit EMF metrics (Lambda); off for the CLI. */
  metrics?: boolean;
  logger?: ReconcileDeps['logger'];
  /** The deployment's own clients (its Region, its credentials); default: new ones from `config` and `credentials`. */
  clients?: AwsClients;
  /** Fixed credentials of the deployment (tests, the demo); absent: the SDK's default chain. */
  credentials?: StaticCredentials;
}

type ScopeDeps = ReconcileDeps & { state: DynamoStateAdapter };

export class FleetRuntime implements ScopeRuntime {
  readonly home: Scope;
  readonly #config: Config;
  readonly #options: FleetOptions & { clock: Clock; logger: ReconcileDeps['logger'] };
  readonly #clients: AwsClients;
  readonly #members: MemberCredentials;
  readonly #scopes = new Map<string, ScopeDeps>();

  constructor(config: Config, fleet: FleetConfig, options: FleetOptions) {
    this.home = { accountId: options.accountId, region: config.region };
    this.#config = config;
    this.#clients = options.clients ?? makeAwsClients(config, options.credentials);
    this.#options = { ...options, clock: options.clock ?? systemClock, logger: options.logger ?? makeLogger(config) };
    this.#members = new MemberCredentials(this.#clients.sts, fleet.memberRoleName, this.#options.clock);
  }

  /** The same runtime (clients, credentials, caches) acting as another lease owner, e.g. per Lambda invocation. */
  withOwner(owner: string): ScopeRuntime {
    return {
      home: this.home,
      deps: (scope) => ({ ...this.deps(scope), owner }),
      reach: (scope) => this.reach(scope),
    };
  }

  deps(scope: Scope): ScopeDeps {
    const key = scopeLabel(scope);
    let deps = this.#scopes.get(key);
    if (!deps) {
      deps = this.#build(scope);
      const oldest = this.#scopes.keys().next().value;
      if (this.#scopes.size >= MAX_CACHED_SCOPES && oldest !== undefined) this.#scopes.delete(oldest);
      this.#scopes.set(key, deps);
    }
    return deps;
  }

  async reach(scope: Scope): Promise<void> {
    if (!sameScope(scope, this.home)) await this.#members.get(scope.accountId);
  }

  /** The single-scope composition, in the scope's Region, with the scope's clients beside the deployment's table and bus. */
  #build(scope: Scope): ScopeDeps {
    const scopeClients = sameScope(scope, this.home)
      ? this.#clients
      : makeScopeClients(
          { region: scope.region, endpoint: this.#config.endpoint, leaseTtlMs: this.#config.leaseTtlMs },
          this.#members.provider(scope.accountId),
        );
    return buildDeps(
      { ...this.#config, region: scope.region },
      { ...this.#options, accountId: scope.accountId, clients: { ...this.#clients, ...scopeClients } },
    );
  }
}
