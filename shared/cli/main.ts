/**
 * `cks`, the operator CLI: parses the command line, runs one command against the same core the
 * Lambdas run, and turns every expected failure into one line on stderr and an exit code (0 done,
 * 1 failed, 2 wrong usage). Each command imports its code when it runs, so that help and usage
 * errors load neither the core nor an SDK client.
 */
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { closest } from '../domain/words.js';
import { AwsCallError, ConfigError, ConflictError, errorMessage } from '../errors.js';
import type { OperatorRequest } from '../reconcile/ports.js';
import { CliContext, CliError, type CliIo, parseDuration, UsageError } from './context.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;

interface Command {
  /** How the command is written, after `cks`. */
  synopsis: string;
  summary: string;
  /** More lines for `cks <command> --help`. */
  details?: string;
  options: Options;
  /** Help for each option, by option name. */
  optionHelp: Record<string, string>;
  /** The one positional argument the command takes, if any; `optional` when it may be left out. */
  argument?: { name: string; optional?: boolean };
  run(ctx: CliContext, values: Values, argument: string | undefined): Promise<number>;
}

const GLOBAL_OPTIONS: Options = {
  'endpoint-url': { type: 'string' },
  region: { type: 'string' },
  table: { type: 'string' },
  'account-id': { type: 'string' },
  scope: { type: 'string' },
  stage: { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

const GLOBAL_HELP = `Global options:
  --stage <stage>       a deployed stack (\`serverless deploy --stage <stage>\`): its table, its event bus
                        and, by STS, the caller's account                           (env CKS_STAGE)
  --endpoint-url <url>  one endpoint for every AWS service, e.g. the local fake   (env AWS_ENDPOINT_URL)
  --region <region>     the Region whose key stores are managed                    (env AWS_REGION)
  --table <name>        the desired-state table                                    (env CKS_TABLE)
  --account-id <id>     the 12-digit account whose key stores are managed          (env CKS_ACCOUNT_ID)
  --scope <acct>/<region>  act in another account and Region of the fleet (its read-only member
                        role, CKS_MEMBER_READ_ROLE_NAME, default cks-reconciler-member-read, is
                        assumed there: cks reads the stores there, the reconciler repairs them)
  --verbose             print the reconciler's JSON log lines on stderr            (or env CKS_LOG_LEVEL)
  -h, --help            show help
  --version             print the version

Environment: CKS_EVENT_BUS names the bus the reconciler's events go to (default "default"; with a
stage, the stack's). Against AWS, \`cks sweep\` publishes only with --stage, to the stack's bus, where
its on-call rules listen. CKS_SECRET_PREFIX: the deployment's secretPrefix (default "cks/"); \`cks apply\`
accepts only secrets under it. CKS_SOURCE_IDENTITY: the source identity of your session, if it has one
(\`cks apply\`, \`retry\` and \`approve\` sign as it; IAM refuses a wrong one). CKS_FAKE_CLOCK=1 (the local fake only): keep the fake's time, read
from <endpoint>/_fake/clock, which POST /_fake/clock/advance moves. Without it (and without
\`cks events --fake-log\`), cks asks an endpoint nothing but AWS calls.
Account: --account-id or CKS_ACCOUNT_ID. When an endpoint is set (the local fake), it defaults to the
fake's rule: the access key id when that is 12 digits, else 000000000000. Against real AWS it must be
set, or come with --stage (the caller's account). Durations: 5 (seconds), 500ms, 5s, 2m, 1h, 7d.`;

const OUTPUT_OPTION: Options = { output: { type: 'string', short: 'o', default: 'table' } };

const request = (kind: OperatorRequest, summary: string, details: string): Command => ({
  synopsis: `${kind} <store>`,
  summary,
  details,
  options: {},
  optionHelp: {},
  argument: { name: 'store' },
  run: async (ctx, _values, store) => (await import('./store-commands.js')).requestCommand(ctx, kind, String(store)),
});

const COMMANDS: Record<string, Command> = {
  init: {
    synopsis: 'init',
    summary: 'create the desired-state table where it does not exist',
    details: 'For local endpoints and quick starts; a deployed stack creates its own table.',
    options: {},
    optionHelp: {},
    run: async (ctx) => (await import('./commands.js')).initCommand(ctx),
  },
  apply: {
    synopsis: 'apply -f <stores.yaml> [--dry-run] [--prune]',
    summary: 'validate a stores file, show the change per store, then write it',
    details:
      'The whole file is validated first. If any store is invalid, every error is printed with its line\n' +
      'and nothing is written. Then the change of each store is shown (+ added, ~ changed field by field,\n' +
      'old → new, - removed) and each changed store gets a new generation that records who wrote it.\n' +
      "Secrets must be this account's and Region's, under the deployment's prefix; two entries may not\n" +
      'name one KMS store.',
    options: { file: { type: 'string', short: 'f' }, 'dry-run': { type: 'boolean' }, prune: { type: 'boolean' } },
    optionHelp: {
      file: '-f, --file <path>     the stores file (YAML with a "stores:" list)',
      'dry-run': '--dry-run             show the change and write nothing',
      prune: '--prune               also remove the desired stores the file no longer names',
    },
    run: async (ctx, values) => {
      if (typeof values.file !== 'string') throw new UsageError('apply needs -f <stores.yaml>');
      return (await import('./apply.js')).applyCommand(ctx, values.file, { dryRun: values['dry-run'] === true, prune: values.prune === true });
    },
  },
  delete: {
    synopsis: 'delete <store>',
    summary: 'remove a store from the desired state (KMS is left alone)',
    details: 'It is no longer reported or reconciled and its status is closed; its history is kept.',
    options: {},
    optionHelp: {},
    argument: { name: 'store' },
    run: async (ctx, _values, store) => (await import('./store-commands.js')).deleteCommand(ctx, String(store)),
  },
  status: {
    synopsis: 'status [<store>] [--all] [-o table|json]',
    summary: 'desired vs observed, phase, attempts, what waits for an operator, and why',
    details:
      "Observed state is read live from KMS; phase and attempts are the reconciler's record. With a store:\n" +
      'every field desired and in KMS, the incident, the next attempt, what a hold waits for, the runbook\n' +
      'when it is escalated or held, and its newest history entries. With --all: every account and Region\n' +
      'of the fleet, grouped, with totals (an unreachable one says why).',
    options: { ...OUTPUT_OPTION, all: { type: 'boolean' } },
    optionHelp: {
      all: '--all                  every scope of the fleet (json: an array of {accountId, region, reachable, error, stores})',
      output: '-o, --output <format>  table (default) or json (an array; one object with a store)',
    },
    argument: { name: 'store', optional: true },
    run: async (ctx, values, store) => {
      const json = outputIsJson(values);
      if (values.all === true) {
        if (ctx.scope !== undefined || store !== undefined) throw new UsageError('--all goes with neither a store nor --scope');
        const { loadFleetStatus, renderFleetStatus } = await import('./fleet.js');
        const scopes = await loadFleetStatus(ctx);
        ctx.print(json ? JSON.stringify(scopes, null, 2) : renderFleetStatus(scopes));
        return 0;
      }
      const status = await import('./status.js');
      const deps = await ctx.deps();
      if (store === undefined) {
        const rows = await status.loadStatus(deps);
        ctx.print(json ? JSON.stringify(rows, null, 2) : status.renderStatus(rows));
      } else {
        const detail = await status.loadStoreDetail(deps, store);
        ctx.print(json ? JSON.stringify(detail, null, 2) : status.renderStoreDetail(detail, ctx.width));
      }
      return 0;
    },
  },
  plan: {
    synopsis: 'plan [--detailed-exitcode]',
    summary: 'what a sweep would do now, and why (changes nothing)',
    options: { 'detailed-exitcode': { type: 'boolean' } },
    optionHelp: { 'detailed-exitcode': '--detailed-exitcode   exit 0 when nothing is to be done, 2 when changes are pending, 1 on an error' },
    run: async (ctx, values) => (await import('./commands.js')).planCommand(ctx, values['detailed-exitcode'] === true),
  },
  sweep: {
    synopsis: 'sweep [--all] [--watch] [--interval 5s]',
    summary: 'one reconcile pass (the code the scheduled Lambda runs)',
    details:
      'Prints the action taken for each store and why. --watch repeats until Ctrl-C. Against AWS it needs\n' +
      "--stage: its events must reach the stack's bus, where the on-call rules listen. With --all: every\n" +
      'account and Region of the fleet, each as the worker reconciles it, CKS_FLEET_CONCURRENCY (default 8)\n' +
      'at a time; an unreachable one is reported (Scope Unreachable) and the others go on.',
    options: { watch: { type: 'boolean' }, interval: { type: 'string' }, all: { type: 'boolean' } },
    optionHelp: {
      all: '--all                 every scope of the fleet',
      watch: '--watch               repeat the pass until Ctrl-C',
      interval: '--interval <time>     time between passes with --watch: 5 (seconds), 500ms, 5s, 1m (default 5s)',
    },
    run: async (ctx, values) => {
      if (values.interval !== undefined && values.watch !== true) throw new UsageError('--interval needs --watch');
      if (values.all === true && ctx.scope !== undefined) throw new UsageError('--all and --scope exclude each other');
      const intervalMs = values.watch === true ? parseDuration(String(values.interval ?? '5s'), '--interval') : null;
      return (await import('./commands.js')).sweepCommand(ctx, intervalMs, values.all === true);
    },
  },
  retry: request(
    'retry',
    'release an escalation or a hold, and reset the login budget',
    'Bumps the desired generation; the next sweep starts a new incident. A store held for INVALID_CREDENTIALS,\n' +
      'USER_LOCKED_OUT or USER_NOT_FOUND is released only by a new password secret version: re-sending the\n' +
      'password KMS holds can only lock kmsuser out. Exits 1, writing nothing, when there is nothing to retry.',
  ),
  pause: request(
    'pause',
    'stop acting on a store (it is still observed)',
    'The reconciler keeps observing and reporting the store. Exits 1 when it is already paused.',
  ),
  resume: request(
    'resume',
    'act on a paused or HELD store again',
    'Undoes `cks pause`, and releases a store held after a manual change. Exits 1 when there is neither.',
  ),
  approve: {
    synopsis: 'approve <store> | approve --settings',
    summary: 'sign a change that waits for a second person (XKS proxy, CloudHSM, a weaker safety setting)',
    details:
      "Signs, as you, the exact change of the current generation (its values' digest) that needs a second\n" +
      'person; it is applied once two persons signed it (`cks apply` and `cks retry` sign as proposer).\n' +
      'With --settings, signs the weakening of the settings that waits (`cks settings` signs as proposer).\n' +
      'Refused when your person already signed it (two sessions of one role are one person) and when\n' +
      'nothing waits. A session with a source identity signs as it: set CKS_SOURCE_IDENTITY to it.',
    options: { settings: { type: 'boolean' } },
    optionHelp: { settings: "--settings                    sign the weakening of the settings that waits, instead of a store's change" },
    argument: { name: 'store', optional: true },
    run: async (ctx, values, store) => {
      if (values.settings === true) {
        if (store !== undefined) throw new UsageError('approve takes <store> or --settings, not both');
        return (await import('./settings.js')).approveSettingsCommand(ctx);
      }
      if (store === undefined) throw new UsageError('approve needs <store> (or --settings)');
      return (await import('./store-commands.js')).approveCommand(ctx, store);
    },
  },
  settings: {
    synopsis: 'settings [--kill-switch on|off] [--blast-radius-share N] [--blast-radius-min N] [--approval-for-cloudhsm on|off]',
    summary: 'show or change the global settings: the kill switch, the blast-radius limit, the approval rule',
    details:
      'With no option, prints the settings. With options, every value is checked first (a bad one writes\n' +
      'nothing), then only the settings given are changed and the new settings are printed with what changed.\n' +
      'Kill switch on: every store is observed and reported, none is acted on. Blast-radius limit: when more\n' +
      'than the share of the managed stores, and at least the minimum, are FAILED at once, it is a regional\n' +
      'incident: reported, not repaired. Approval for CloudHSM on: a cluster change or a rename waits for a\n' +
      "second principal's `cks approve`, as an XKS proxy change always does.",
    options: {
      'approval-for-cloudhsm': { type: 'string' },
      'kill-switch': { type: 'string' },
      'blast-radius-share': { type: 'string' },
      'blast-radius-min': { type: 'string' },
      ...OUTPUT_OPTION,
    },
    optionHelp: {
      'kill-switch': '--kill-switch on|off          on: report only, act on no store; off: act again',
      'blast-radius-share': '--blast-radius-share <share>  a number greater than 0 and at most 1 (default 0.5)',
      'blast-radius-min': '--blast-radius-min <count>    a whole number of at least 1 (default 3)',
      'approval-for-cloudhsm': '--approval-for-cloudhsm on|off  on: CloudHSM cluster changes and renames need `cks approve` too',
      output: '-o, --output <format>         table (default) or json (the settings object only)',
    },
    run: async (ctx, values) => {
      const json = outputIsJson(values);
      const { parseSettingsFlags, settingsCommand } = await import('./settings.js');
      return settingsCommand(ctx, parseSettingsFlags(values), json);
    },
  },
  events: {
    synopsis: 'events [--store S] [--type T] [--since D] [--follow] [--fake-log] [-o table|json]',
    summary: "the reconciler's own events",
    details:
      "Read from each store's history in the table (EventBridge keeps no log to read), which keeps each\n" +
      "event's type, reason and runbook, at the time the run recorded it (the time `cks status` shows).\n" +
      'The history keeps no Sweep Summary events. --fake-log reads instead the events the local fake\n' +
      "received on EventBridge (GET <endpoint>/_fake/events), Sweep Summary included, at the fake's time\n" +
      'of receipt; the table leaves Sweep Summary events out unless --type asks for them.',
    options: {
      store: { type: 'string' },
      type: { type: 'string' },
      since: { type: 'string' },
      follow: { type: 'boolean' },
      'fake-log': { type: 'boolean' },
      ...OUTPUT_OPTION,
    },
    optionHelp: {
      store: "--store <name>        only this store's events (a removed store's history too)",
      type: '--type <detail-type>  only this type, e.g. "Repair Escalated" or "Sweep Summary"',
      since: '--since <when>        only events from then: a duration back (30m, 2h, 7d) or an ISO time',
      follow: '--follow              keep printing new events until Ctrl-C, in the same columns',
      'fake-log': "--fake-log            the local fake's EventBridge log instead of the history (the fake only)",
      output: '-o, --output <format>  table (default) or json (one event per line)',
    },
    run: async (ctx, values) => {
      const json = outputIsJson(values);
      const events = await import('./events.js');
      const type = stringValue(values, 'type');
      const store = stringValue(values, 'store');
      const since = stringValue(values, 'since');
      return events.eventsCommand(ctx, {
        follow: values.follow === true,
        json,
        fakeLog: values['fake-log'] === true,
        filter: { ...(store !== undefined && { store }), ...(type !== undefined && { type: events.parseEventType(type) }) },
        ...(since !== undefined && { since }),
      });
    },
  },
};

/** Runs the CLI on `argv` (without `node cks`) and returns the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let command: Command | undefined;
  let verbose = false;
  try {
    const found = findCommand(argv);
    const name = found?.name;
    command = name === undefined ? undefined : COMMANDS[name];
    if (name !== undefined && command === undefined) throw new UsageError(`unknown command "${name}"${didYouMean(name, Object.keys(COMMANDS))}`);
    const { values, positionals } = parse(
      argv.filter((_, i) => i !== found?.index),
      command,
    );
    verbose = values.verbose === true;
    if (values.help === true) {
      io.stdout(`${command ? commandHelp(command) : mainHelp()}\n`);
      return 0;
    }
    if (values.version === true) {
      io.stdout(`cks ${packageVersion()}\n`);
      return 0;
    }
    if (command === undefined) throw new UsageError('no command given');
    const argument = positionals[0];
    if (command.argument !== undefined && command.argument.optional !== true && argument === undefined) {
      throw new UsageError(`${name} needs <${command.argument.name}>`);
    }
    if (positionals.length > (command.argument === undefined ? 0 : 1)) {
      throw new UsageError(`unexpected argument "${positionals.at(-1)}"`);
    }
    const ctx = new CliContext(io, {
      endpointUrl: stringValue(values, 'endpoint-url'),
      region: stringValue(values, 'region'),
      table: stringValue(values, 'table'),
      accountId: stringValue(values, 'account-id'),
      scope: stringValue(values, 'scope'),
      stage: stringValue(values, 'stage'),
      verbose,
    });
    return await command.run(ctx, values, argument);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`cks: ${error.message}\n\n${shortUsage(command)}\n`);
      return 2;
    }
    const message = errorMessage(error);
    io.stderr(`cks: ${oneLine(message)}\n`);
    if (!isExpected(error) && verbose && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    return 1;
  }
}

/** The first positional argument and where it is: flags before it must be global ones. */
function findCommand(argv: readonly string[]): { name: string; index: number } | undefined {
  const { tokens } = parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((token) => token.kind === 'positional');
  return first?.kind === 'positional' ? { name: first.value, index: first.index } : undefined;
}

function parse(args: string[], command: Command | undefined): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...command?.options },
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    // Node's messages run on with advice about `--`; the first sentence is the point.
    if (error instanceof TypeError) {
      const first = (error.message.split('. ')[0] ?? error.message).replace(/'/g, '"');
      const option = /^Unknown option "--([^"]+)"/.exec(first)?.[1];
      const known = Object.keys({ ...GLOBAL_OPTIONS, ...command?.options });
      const hint = option === undefined ? '' : didYouMean(option, known, '--');
      throw new UsageError(`${first.charAt(0).toLowerCase()}${first.slice(1)}${hint}`);
    }
    throw error;
  }
}

/** The version in package.json, which is two directories up from this module and from its bundle (dist/cli) alike. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** ` (did you mean "status"?)` for a near miss among `known`, else nothing. */
function didYouMean(word: string, known: readonly string[], prefix = ''): string {
  const suggestion = closest(word, known);
  return suggestion === undefined ? '' : ` (did you mean ${prefix === '' ? `"${suggestion}"` : `${prefix}${suggestion}`}?)`;
}

function outputIsJson(values: Values): boolean {
  if (values.output !== 'table' && values.output !== 'json') {
    throw new UsageError(`--output must be table or json, got "${String(values.output)}"${didYouMean(String(values.output), ['table', 'json'])}`);
  }
  return values.output === 'json';
}

function stringValue(values: Values, key: string): string | undefined {
  const value = values[key];
  return typeof value === 'string' ? value : undefined;
}

/** Failures the operator can act on: their message is the whole story, a stack trace would be noise. */
function isExpected(error: unknown): boolean {
  return [UsageError, CliError, ConfigError, AwsCallError, ConflictError].some((type) => error instanceof type);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** What a usage error prints after its message: the synopsis, and where the full help is. */
function shortUsage(command: Command | undefined): string {
  if (command) return `Usage: cks [global options] ${command.synopsis}\nRun \`cks ${command.synopsis.split(' ')[0]} --help\` for its options.`;
  return `Usage: cks [global options] <command> [options]\n\nCommands:\n${commandList()}\n\nRun \`cks --help\` for global options and environment.`;
}

/** Synopses longer than this get their summary on the next line, so one long synopsis does not push every summary right. */
const SYNOPSIS_COLUMN = 40;

function commandList(): string {
  const commands = Object.values(COMMANDS);
  const width = Math.max(...commands.map((c) => c.synopsis.length).filter((length) => length <= SYNOPSIS_COLUMN));
  return commands
    .map((c) =>
      c.synopsis.length <= width ? `  ${c.synopsis.padEnd(width)}  ${c.summary}` : `  ${c.synopsis}\n  ${' '.repeat(width)}  ${c.summary}`,
    )
    .join('\n');
}

function mainHelp(): string {
  return `Usage: cks [global options] <command> [options]

Keeps AWS KMS custom key stores in their declared state: the operator CLI of cks-reconciler.

Commands:
${commandList()}

${GLOBAL_HELP}

Events: with an endpoint, \`cks events\` reads what the local fake's EventBridge received; against real
AWS it reads each store's history from the table.

Exit codes: 0 done, 1 failed (or nothing to do, for retry, pause, resume and approve), 2 wrong usage;
\`plan --detailed-exitcode\`: 2 when changes are pending.

Run \`cks <command> --help\` for a command's options.`;
}

function commandHelp(command: Command): string {
  const options = Object.values(command.optionHelp).map((line) => `  ${line}`);
  return [
    `Usage: cks [global options] ${command.synopsis}`,
    '',
    `${command.summary[0]?.toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.details ? [command.details] : []),
    ...(options.length > 0 ? ['', 'Options:', ...options] : []),
    '',
    GLOBAL_HELP,
  ].join('\n');
}
