/**
 * DynamoDB: requests are forwarded, body and signature headers unchanged, to an embedded dynalite
 * (in memory) — one per account and Region, started on first use on an ephemeral loopback port,
 * at most {@link MAX_DYNAMODB_EMULATORS} at once. dynalite has no Streams and no TTL expiry;
 * neither does the fake's DynamoDB.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { type Scope, scopeKey } from './context.js';
import { LimitExceededException } from './errors.js';

/** Each emulator is a server with its own sockets and memory: this many account-Region pairs at most. */
export const MAX_DYNAMODB_EMULATORS = 16;

const REQUEST_HEADERS = ['content-type', 'x-amz-target', 'authorization', 'x-amz-date', 'x-amz-security-token'];
const RESPONSE_HEADERS = ['content-type', 'x-amz-crc32', 'x-amzn-requestid'];

export interface ForwardedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The exception name (`__type` without its namespace) when DynamoDB answered with an error. */
  errorType?: string;
}

/** A table's partition key attribute and its indexes' (for `dynamodb:LeadingKeys`). */
interface KeySchemas {
  table: string | undefined;
  indexes: Map<string, string | undefined>;
}

interface KeyElement {
  AttributeName?: string;
  KeyType?: string;
}

const hashKeyIn = (schema: KeyElement[] | undefined): string | undefined => schema?.find((key) => key.KeyType === 'HASH')?.AttributeName;

export class DynamoForwarder {
  readonly #servers = new Map<string, Promise<{ server: http.Server; port: number }>>();
  readonly #agent = new http.Agent({ keepAlive: true });
  /** Key schemas by scope and table, read from the emulator on first use; dropped when a table changes. */
  readonly #schemas = new Map<string, Promise<KeySchemas | undefined>>();

  /**
   * The partition key attribute of a table (or of its index), asking the emulator with the
   * caller's signature headers; undefined when the table does not exist.
   */
  async hashKey(scope: Scope, headers: http.IncomingHttpHeaders, tableName: string, indexName?: string): Promise<string | undefined> {
    const cacheKey = `${scopeKey(scope)}|${tableName}`;
    let schemas = this.#schemas.get(cacheKey);
    if (!schemas) {
      schemas = this.#describe(scope, headers, tableName);
      this.#schemas.set(cacheKey, schemas);
    }
    const known = await schemas;
    if (known === undefined) this.#schemas.delete(cacheKey);
    return indexName === undefined ? known?.table : known?.indexes.get(indexName);
  }

  /** Forgets a table's key schema (after CreateTable, UpdateTable or DeleteTable of it). */
  forgetTable(scope: Scope, tableName: string): void {
    this.#schemas.delete(`${scopeKey(scope)}|${tableName}`);
  }

  async #describe(scope: Scope, headers: http.IncomingHttpHeaders, tableName: string): Promise<KeySchemas | undefined> {
    const body = Buffer.from(JSON.stringify({ TableName: tableName }));
    const response = await this.forward(scope, { ...headers, 'x-amz-target': 'DynamoDB_20120810.DescribeTable' }, body);
    if (response.status !== 200) return undefined;
    const { Table } = JSON.parse(response.body.toString('utf8')) as {
      Table: {
        KeySchema?: KeyElement[];
        GlobalSecondaryIndexes?: { IndexName: string; KeySchema?: KeyElement[] }[];
        LocalSecondaryIndexes?: { IndexName: string; KeySchema?: KeyElement[] }[];
      };
    };
    const indexes = [...(Table.GlobalSecondaryIndexes ?? []), ...(Table.LocalSecondaryIndexes ?? [])];
    return { table: hashKeyIn(Table.KeySchema), indexes: new Map(indexes.map((index) => [index.IndexName, hashKeyIn(index.KeySchema)])) };
  }

  async forward(scope: Scope, headers: http.IncomingHttpHeaders, body: Buffer): Promise<ForwardedResponse> {
    const { port } = await this.#emulator(scope);
    const forwarded: Record<string, string> = { 'content-length': String(body.length) };
    for (const name of REQUEST_HEADERS) {
      const value = headers[name];
      if (typeof value === 'string') forwarded[name] = value;
    }
    return new Promise((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: forwarded, agent: this.#agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const status = response.statusCode ?? 500;
          const responseBody = Buffer.concat(chunks);
          const out: Record<string, string> = {};
          for (const name of RESPONSE_HEADERS) {
            const value = response.headers[name];
            if (typeof value === 'string') out[name] = value;
          }
          resolve({ status, headers: out, body: responseBody, errorType: status >= 400 ? errorType(responseBody) : undefined });
        });
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  /** Stops every emulator: their tables are gone (the next call starts a fresh one). */
  async close(): Promise<void> {
    const servers = [...this.#servers.values()];
    this.#servers.clear();
    this.#schemas.clear();
    this.#agent.destroy();
    await Promise.all(
      servers.map(async (started) => {
        const { server } = await started;
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }),
    );
  }

  #emulator(scope: Scope): Promise<{ server: http.Server; port: number }> {
    const key = scopeKey(scope);
    let started = this.#servers.get(key);
    if (!started) {
      if (this.#servers.size >= MAX_DYNAMODB_EMULATORS) {
        throw new LimitExceededException(
          `The fake runs at most ${MAX_DYNAMODB_EMULATORS} DynamoDB emulators, one per account and Region; ` +
            `${key} would need one more. Reset the fake (POST /_fake/reset) to stop them.`,
        );
      }
      started = new Promise((resolve, reject) => {
        const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port }));
      });
      this.#servers.set(key, started);
    }
    return started;
  }
}

function errorType(body: Buffer): string {
  try {
    const type = (JSON.parse(body.toString('utf8')) as { __type?: unknown }).__type;
    return typeof type === 'string' ? type.slice(type.indexOf('#') + 1) : 'UnknownError';
  } catch {
    return 'UnknownError';
  }
}
