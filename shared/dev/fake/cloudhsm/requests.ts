/** CloudHSM v2 requests: validation against the API model's constraints, with CloudHSM's exceptions. */
import { z } from 'zod';
import { CloudHsmInvalidRequestException } from '../errors.js';
import { parseInput } from '../wire.js';

const ClusterId = z.string().regex(/^cluster-[2-7a-zA-Z]{11,16}$/);
const IpAddress = z.string().regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);

const FILTER_KEYS = ['clusterIds', 'vpcIds', 'states'];

const DescribeClustersInput = z.object({
  Filters: z.record(z.string().regex(/^[a-zA-Z0-9_-]+$/), z.array(z.string().regex(/^[a-zA-Z0-9_-]+$/))).optional(),
  NextToken: z.string().max(256).optional(),
  MaxResults: z.number().int().min(1).max(25).optional(),
});
export type DescribeClustersRequest = z.output<typeof DescribeClustersInput>;

const CreateHsmInput = z.object({
  ClusterId,
  AvailabilityZone: z.string().regex(/^[a-z]{2}(-(gov))?-(east|west|north|south|central){1,2}-\d[a-z]$/),
  IpAddress: IpAddress.optional(),
});
export type CreateHsmRequest = z.output<typeof CreateHsmInput>;

const DeleteHsmInput = z.object({
  ClusterId,
  HsmId: z
    .string()
    .regex(/^hsm-[2-7a-zA-Z]{11,16}$/)
    .optional(),
  EniId: z
    .string()
    .regex(/^eni-[0-9a-fA-F]{8,17}$/)
    .optional(),
  EniIp: IpAddress.optional(),
});
export type DeleteHsmRequest = z.output<typeof DeleteHsmInput>;

export function parseDescribeClusters(input: unknown): DescribeClustersRequest {
  const request = parseInput(DescribeClustersInput, input, CloudHsmInvalidRequestException);
  for (const key of Object.keys(request.Filters ?? {})) {
    if (!FILTER_KEYS.includes(key)) {
      throw new CloudHsmInvalidRequestException(`Invalid filter key: ${key}. Valid keys: ${FILTER_KEYS.join(', ')}`);
    }
  }
  return request;
}

export function parseCreateHsm(input: unknown): CreateHsmRequest {
  return parseInput(CreateHsmInput, input, CloudHsmInvalidRequestException);
}

export function parseDeleteHsm(input: unknown): DeleteHsmRequest {
  const request = parseInput(DeleteHsmInput, input, CloudHsmInvalidRequestException);
  const given = [request.HsmId, request.EniId, request.EniIp].filter((value) => value !== undefined);
  if (given.length !== 1) throw new CloudHsmInvalidRequestException('Specify exactly one of HsmId, EniId or EniIp.');
  return request;
}
