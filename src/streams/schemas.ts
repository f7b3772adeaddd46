import type { JsonSchema } from '../core/types.js';

/** Singer-style nullable property builders. */
const str: JsonSchema = { type: ['null', 'string'] };
const int: JsonSchema = { type: ['null', 'integer'] };
const num: JsonSchema = { type: ['null', 'number'] };
const bool: JsonSchema = { type: ['null', 'boolean'] };
const time: JsonSchema = { type: ['null', 'string'], format: 'date-time' };
const obj: JsonSchema = { type: ['null', 'object'] };
const intArray: JsonSchema = { type: ['null', 'array'], items: { type: ['null', 'integer'] } };
const strArray: JsonSchema = { type: ['null', 'array'], items: { type: ['null', 'string'] } };
/** Anything JSON (transactionalData may be an object, array or a string that did not parse). */
const anyJson: JsonSchema = {};

function objectSchema(properties: Record<string, JsonSchema>): JsonSchema {
  return { type: ['null', 'object'], properties, additionalProperties: true };
}

/** Fields every email event row carries (spec §3.10), plus `_event_id`. */
const eventBase = {
  _event_id: { type: 'string' },
  email: str,
  userId: str,
  createdAt: time,
  campaignId: int,
  templateId: int,
  messageId: str,
  messageTypeId: int,
  channelId: int,
  contentId: int,
  workflowId: int,
  eventName: str,
} satisfies Record<string, JsonSchema>;

const geo = {
  city: str,
  country: str,
  region: str,
  ip: str,
  userAgent: str,
  userAgentDevice: str,
} satisfies Record<string, JsonSchema>;

/** JSON Schemas of the 16 streams, keyed by stream name. Fields outside them still reach the output. */
export const STREAM_SCHEMAS = {
  campaigns: objectSchema({
    id: { type: 'integer' },
    name: str,
    type: str,
    campaignState: str,
    messageMedium: str,
    createdAt: time,
    updatedAt: time,
    startAt: time,
    endedAt: time,
    createdByUserId: str,
    updatedByUserId: str,
    templateId: int,
    recurringCampaignId: int,
    workflowId: int,
    listIds: intArray,
    suppressionListIds: intArray,
    sendSize: num,
    labels: strArray,
  }),
  channels: objectSchema({
    id: { type: 'integer' },
    name: str,
    channelType: str,
    messageMedium: str,
  }),
  lists: objectSchema({
    id: { type: 'integer' },
    name: str,
    createdAt: time,
    listType: str,
    description: str,
    isGlobalSuppressionEnabled: bool,
  }),
  list_users: objectSchema({
    email: { type: 'string' },
    listId: { type: 'integer' },
    updatedAt: time,
  }),
  message_types: objectSchema({
    id: { type: 'integer' },
    name: str,
    channelId: int,
    createdAt: time,
    updatedAt: time,
    subscriptionPolicy: str,
    frequencyCap: obj,
    rateLimitPerMinute: int,
  }),
  metadata: objectSchema({
    table: { type: 'string' },
    key: { type: 'string' },
    size: int,
    lastModified: time,
    value: anyJson,
  }),
  templates: objectSchema({
    templateId: { type: 'integer' },
    name: str,
    createdAt: time,
    updatedAt: time,
    creatorUserId: str,
    messageTypeId: int,
    campaignId: int,
    clientTemplateId: str,
    templateType: str,
    messageMedium: str,
  }),
  email_bounce: objectSchema({ ...eventBase, recipientState: str, status: str, bounceMessage: str }),
  email_click: objectSchema({ ...eventBase, ...geo, url: str, hrefIndex: int }),
  email_complaint: objectSchema({ ...eventBase, recipientState: str }),
  email_open: objectSchema({ ...eventBase, ...geo, proxySource: str }),
  email_send: objectSchema({
    ...eventBase,
    messageBusId: str,
    catalogCollectionCount: int,
    catalogLookupCount: int,
    productRecommendationCount: int,
    transactionalData: anyJson,
    espName: str,
  }),
  email_send_skip: objectSchema({ ...eventBase, reason: str, transactionalData: anyJson }),
  email_subscribe: objectSchema({
    ...eventBase,
    emailListIds: intArray,
    emailListId: int,
    channelIds: intArray,
    signupSource: str,
    profileUpdatedAt: time,
  }),
  email_unsubscribe: objectSchema({
    ...eventBase,
    emailListIds: intArray,
    emailListId: int,
    channelIds: intArray,
    unsubSource: str,
    recipientState: str,
    status: str,
    bounceMessage: str,
  }),
  users: objectSchema({
    email: { type: 'string' },
    userId: str,
    profileUpdatedAt: time,
    signupDate: time,
    signupSource: str,
    emailListIds: intArray,
    userListIds: intArray,
    subscribedMessageTypeIds: intArray,
    unsubscribedChannelIds: intArray,
    unsubscribedMessageTypeIds: intArray,
    itblUserId: str,
    phoneNumber: str,
    firstName: str,
    lastName: str,
    city: str,
    region: str,
    country: str,
    locale: str,
    timeZone: str,
    ip: str,
    devices: anyJson,
    'itblInternal.emailDomain': str,
    'itblInternal.documentCreatedAt': time,
    'itblInternal.documentUpdatedAt': time,
  }),
} as const satisfies Record<string, JsonSchema>;

/** Maps an Iterable getFields type (`string`, `long`, `double`, `boolean`, `date`, `object`) to a property schema. */
export function schemaForIterableFieldType(type: string): JsonSchema {
  switch (type.toLowerCase()) {
    case 'long':
    case 'integer':
    case 'int':
      return int;
    case 'double':
    case 'float':
    case 'number':
      return num;
    case 'boolean':
      return bool;
    case 'date':
      return time;
    case 'string':
      return str;
    default:
      return anyJson;
  }
}

/** Names of the properties declared `format: date-time` in a schema. */
export function dateTimeFields(schema: JsonSchema): string[] {
  return Object.entries(schema.properties ?? {})
    .filter(([, property]) => property.format === 'date-time')
    .map(([name]) => name);
}
