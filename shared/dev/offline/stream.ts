/**
 * The desired-state table's DynamoDB stream, which the embedded DynamoDB (dynalite) does not have:
 * the table is read whole at each poll and compared with the previous read, and every item that
 * appeared, changed or went away becomes an INSERT, MODIFY or REMOVE record with its keys and its
 * old and new images (`StreamViewType: NEW_AND_OLD_IMAGES`, as `serverless.yml` declares).
 *
 * Unlike a real stream, several writes to one item between two polls make one record, and the
 * records carry no sequence numbers.
 */
import { randomUUID } from 'node:crypto';
import { type AttributeValue, type DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { TABLE_KEY_SCHEMA } from '../../adapters/dynamodb-store.js';

export type Item = Record<string, AttributeValue>;

/** A DynamoDB stream record, as a Lambda event source mapping delivers it in `Records[]`. */
export interface StreamRecord {
  eventID: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  eventVersion: '1.1';
  eventSource: 'aws:dynamodb';
  awsRegion: string;
  dynamodb: { Keys: Item; NewImage?: Item; OldImage?: Item; StreamViewType: 'NEW_AND_OLD_IMAGES' };
}

const KEY_NAMES = (TABLE_KEY_SCHEMA.KeySchema ?? []).map((key) => key.AttributeName ?? '');

/** The records that turn the table `before` into the table `after` (both: items by key), in that order. */
export function changes(before: ReadonlyMap<string, Item>, after: ReadonlyMap<string, Item>, region: string): StreamRecord[] {
  const records: StreamRecord[] = [];
  for (const [key, NewImage] of after) {
    const OldImage = before.get(key);
    if (OldImage === undefined) records.push(streamRecord('INSERT', region, NewImage, { NewImage }));
    else if (JSON.stringify(OldImage) !== JSON.stringify(NewImage)) records.push(streamRecord('MODIFY', region, NewImage, { NewImage, OldImage }));
  }
  for (const [key, OldImage] of before) {
    if (!after.has(key)) records.push(streamRecord('REMOVE', region, OldImage, { OldImage }));
  }
  return records;
}

/** Polls one table and returns what changed since the previous poll. */
export class TableStream {
  #items: Map<string, Item> = new Map();

  constructor(
    private readonly dynamo: DynamoDBClient,
    private readonly table: string,
    private readonly region: string,
  ) {}

  /** Reads the table as it is: records start after this (`startingPosition: LATEST`). */
  async start(): Promise<void> {
    this.#items = await this.#scan();
  }

  /** The records of every change since the previous read. */
  async read(): Promise<StreamRecord[]> {
    const items = await this.#scan();
    const records = changes(this.#items, items, this.region);
    this.#items = items;
    return records;
  }

  async #scan(): Promise<Map<string, Item>> {
    const items = new Map<string, Item>();
    for await (const page of paginateScan({ client: this.dynamo }, { TableName: this.table, ConsistentRead: true })) {
      for (const item of page.Items ?? []) items.set(JSON.stringify(keysOf(item)), item);
    }
    return items;
  }
}

function streamRecord(
  eventName: StreamRecord['eventName'],
  awsRegion: string,
  item: Item,
  images: { NewImage?: Item; OldImage?: Item },
): StreamRecord {
  return {
    eventID: randomUUID(),
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion,
    dynamodb: { Keys: keysOf(item), ...images, StreamViewType: 'NEW_AND_OLD_IMAGES' },
  };
}

function keysOf(item: Item): Item {
  return Object.fromEntries(KEY_NAMES.map((name) => [name, item[name]!]));
}
