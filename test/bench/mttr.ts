/**
 * `npm run bench:mttr`: how long each failure the reconciler heals by itself takes to heal, on the
 * fake's clock, with the deployed path (the sweep every minute, follow-ups on the follow-up queue
 * delivered to the on-event function), under the stack's own IAM. Each kind runs twice in one
 * process: BEFORE (follow-ups off: the schedule alone, as if every follow-up were lost) and AFTER
 * (follow-ups on). The failure strikes half a minute after a sweep; fake time then moves a second
 * at a time. Per kind and run it prints:
 *
 * - detection: from the failure to the first run that acts on it (the next sweep: no event reports
 *   these failures);
 * - KMS: the seconds KMS and CloudHSM spent in their own transitions after detection (the store
 *   DISCONNECTING or CONNECTING, an HSM coming up);
 * - added: what the reconciler adds beyond both, waiting to look again (the target: at most 15 s);
 * - total: from the failure until the reconciler saw the store healthy (`Repair Succeeded`).
 */
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { type FollowUpRig, followUpRig } from '../helpers/follow-ups.js';
import { type ReconcilerEnv, startReconcilerEnv } from '../helpers/reconciler.js';
import { cloudHsmEntry, cloudHsmStore, xksEntry, xksStore } from '../helpers/world.js';

const SWEEP_SECONDS = 60;
/** The reconciler's own share of a repair that the target allows. */
const TARGET_ADDED_SECONDS = 15;
const LIMIT_SECONDS = 3600;
const NAME = 'bench-store';

interface Kind {
  name: string;
  /** Seeds the store (CONNECTED, declared in enforce mode); returns how to break it (and mend what a human mends). */
  seed(env: ReconcilerEnv): Promise<() => Promise<void>>;
}

const ROTATED_XKS = { accessKeyId: 'AKIAXKSPROXYROTATED7EXAMPLE', secretAccessKey: 'Zr7Yx2Wq9Vt4Us1Rp6On3Ml8Kj5Ih0Gf2Ed7Cb4Aa9=' };

async function cloudHsm(env: ReconcilerEnv, extra: Record<string, unknown> = {}) {
  const store = await cloudHsmStore(env.fake, { name: NAME, connected: true, secret: true });
  await env.apply(cloudHsmEntry(store, extra));
  return store;
}

async function xks(env: ReconcilerEnv) {
  const store = await xksStore(env.fake, { name: NAME, connected: true, secret: true });
  await env.apply(xksEntry(store));
  return store;
}

const fail = (env: ReconcilerEnv, errorCode: string) => env.fake.admin('POST', `/_fake/stores/${NAME}/fail`, { errorCode });

/** The kinds the runbook says the reconciler heals by itself (with the human's part done at once where it has one). */
/** A store that fails with `errorCode` while the world stays sound (a transient fault). */
function transient(name: string, type: 'cloudHsm' | 'xks', errorCode: string): Kind {
  return {
    name,
    seed: async (env) => {
      await (type === 'xks' ? xks(env) : cloudHsm(env));
      return async () => void (await fail(env, errorCode));
    },
  };
}

const KINDS: Kind[] = [
  transient('network (CloudHSM NETWORK_ERRORS)', 'cloudHsm', 'NETWORK_ERRORS'),
  transient('KMS internal error (XKS INTERNAL_ERROR)', 'xks', 'INTERNAL_ERROR'),
  transient('XKS proxy timed out', 'xks', 'XKS_PROXY_TIMED_OUT'),
  transient('XKS proxy invalid response', 'xks', 'XKS_PROXY_INVALID_RESPONSE'),
  {
    name: 'lost HSMs (allowCreateHsm)',
    seed: async (env) => {
      const { clusterId } = await cloudHsm(env, { allowCreateHsm: true });
      return async () => {
        await env.fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { activeHsms: 0 });
        await fail(env, 'INSUFFICIENT_CLOUDHSM_HSMS');
      };
    },
  },
  {
    name: 'rotated kmsuser password (new secret version)',
    seed: async (env) => {
      const { clusterId, secretArn } = await cloudHsm(env);
      return async () => {
        await env.fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { kmsuserPassword: 'rotated-Passw0rd' });
        await fail(env, 'INVALID_CREDENTIALS');
        await env.secrets.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: 'rotated-Passw0rd' }));
      };
    },
  },
  {
    name: 'rotated XKS credential (new secret version)',
    seed: async (env) => {
      const { uriEndpoint, credentialSecretArn } = await xks(env);
      return async () => {
        await env.fake.admin('PATCH', '/_fake/xks-proxies', { uriEndpoint, ...ROTATED_XKS });
        await fail(env, 'INVALID_CREDENTIALS');
        await env.secrets.send(new PutSecretValueCommand({ SecretId: credentialSecretArn, SecretString: JSON.stringify(ROTATED_XKS) }));
      };
    },
  },
];

interface Measure {
  detection: number;
  transitions: number;
  added: number;
  total: number;
}

/** The store's state and whether an HSM of any cluster is coming up, from the fake's own view. */
async function inTransition(env: ReconcilerEnv): Promise<boolean> {
  const { body } = await env.fake.admin<{
    partitions: Array<{
      stores: Array<{ CustomKeyStoreName: string; ConnectionState: string }>;
      clusters: Array<{ Hsms?: Array<{ State: string }> }>;
    }>;
  }>('GET', '/_fake/state');
  const partitions = body.partitions ?? [];
  const store = partitions.flatMap((p) => p.stores).find((s) => s.CustomKeyStoreName === NAME);
  const hsmComingUp = partitions.flatMap((p) => p.clusters).some((c) => (c.Hsms ?? []).some((h) => h.State === 'CREATE_IN_PROGRESS'));
  return store?.ConnectionState === 'DISCONNECTING' || store?.ConnectionState === 'CONNECTING' || hsmComingUp;
}

async function repairEvents(env: ReconcilerEnv): Promise<string[]> {
  return (await env.events()).map((e) => e.DetailType);
}

async function measure(kind: Kind, followUps: boolean): Promise<Measure> {
  const env = await startReconcilerEnv();
  try {
    const rig: FollowUpRig = await followUpRig(env, { followUps });
    const breakIt = await kind.seed(env);
    await rig.sweep();
    env.fake.advance(SWEEP_SECONDS / 2);
    await breakIt();
    let detection: number | null = null;
    let transitions = 0;
    for (let second = 1; second <= LIMIT_SECONDS; second++) {
      env.fake.advance(1);
      if ((second + SWEEP_SECONDS / 2) % SWEEP_SECONDS === 0) await rig.sweep();
      if (followUps) await rig.drain();
      const events = await repairEvents(env);
      if (detection === null && events.includes('Repair Started')) detection = second;
      if (events.includes('Repair Succeeded')) {
        const seen = detection ?? second;
        return { detection: seen, transitions, added: second - seen - transitions, total: second };
      }
      if (detection !== null && (await inTransition(env))) transitions += 1;
    }
    throw new Error(`${kind.name}: not healed within ${LIMIT_SECONDS} s`);
  } finally {
    await env.close();
  }
}

const rows: Array<{ kind: string; before: Measure; after: Measure }> = [];
for (const kind of KINDS) {
  rows.push({ kind: kind.name, before: await measure(kind, false), after: await measure(kind, true) });
}

const width = Math.max(...rows.map((r) => r.kind.length), 4);
const cell = (m: Measure) => [m.detection, m.transitions, m.added, m.total].map((n) => String(n).padStart(6)).join('');
console.log(`${''.padEnd(width)}  ${'BEFORE (schedule only)'.padEnd(24)}  AFTER (follow-ups)`);
console.log(`${'kind'.padEnd(width)}  ${' detect   KMS added total'}  ${' detect   KMS added total'}   (fake seconds)`);
for (const { kind, before, after } of rows) console.log(`${kind.padEnd(width)}  ${cell(before)}  ${cell(after)}`);
const worst = Math.max(...rows.map((r) => r.after.added));
console.log(
  `\nthe reconciler adds at most ${worst} s with follow-ups (target ${TARGET_ADDED_SECONDS} s), at most ${Math.max(...rows.map((r) => r.before.added))} s without`,
);
if (worst > TARGET_ADDED_SECONDS) process.exitCode = 1;
