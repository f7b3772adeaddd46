import type { JsonSchema } from '../core/types.js';
import { snakeCaseHeader } from './campaign-metrics.js';

/** Singer-style nullable property builders. */
const str: JsonSchema = { type: ['null', 'string'] };
const int: JsonSchema = { type: ['null', 'integer'] };
const num: JsonSchema = { type: ['null', 'number'] };
const bool: JsonSchema = { type: ['null', 'boolean'] };
const time: JsonSchema = { type: ['null', 'string'], format: 'date-time' };
const obj: JsonSchema = { type: ['null', 'object'] };
const intArray: JsonSchema = { type: ['null', 'array'], items: { type: ['null', 'integer'] } };
const strArray: JsonSchema = { type: ['null', 'array'], items: { type: ['null', 'string'] } };
/** Trigger data: the JSON a `transactionalData` string held (an object, or an array), or the text when it was not JSON. */
const triggerData: JsonSchema = { type: ['null', 'object', 'array', 'string'] };
/** A value of a getFields type we do not know: any JSON value. */
const anyJsonValue: JsonSchema = { type: ['null', 'string', 'number', 'boolean', 'object', 'array'] };

function objectSchema(properties: Record<string, JsonSchema>): JsonSchema {
  return { type: ['null', 'object'], properties, additionalProperties: true };
}

/**
 * Iterable's bookkeeping, which any event row may carry as a nested object (seen in `userEvents`
 * rows, spec §3.12). Its dates come in the export format and are emitted as ISO 8601, like the
 * rest of the row.
 */
const itblInternal = objectSchema({ documentCreatedAt: time, documentUpdatedAt: time });

/** What every export event carries whatever its type: its id, who, when, and Iterable's bookkeeping. */
const eventIdentity = {
  _event_id: { type: 'string' },
  email: str,
  userId: str,
  createdAt: time,
  itblInternal,
} satisfies Record<string, JsonSchema>;

/** The message an engagement event refers to (spec §3.10: top-level ids on every messaging event). */
const messageRef = {
  ...eventIdentity,
  campaignId: int,
  templateId: int,
  messageId: str,
  messageTypeId: int,
  channelId: int,
  contentId: int,
  workflowId: int,
} satisfies Record<string, JsonSchema>;

/** Fields every email event row carries (spec §3.10), plus `_event_id`. */
const eventBase = { ...messageRef, eventName: str } satisfies Record<string, JsonSchema>;

const geo = {
  city: str,
  country: str,
  region: str,
  ip: str,
  userAgent: str,
  userAgentDevice: str,
} satisfies Record<string, JsonSchema>;

/**
 * The standard profile fields of a user (spec §3.10 lists those Iterable documents). `users` rows
 * carry them, and so do `emailSubscribe` rows, which bring the subscriber's profile along.
 */
const profile = {
  firstName: str,
  lastName: str,
  phoneNumber: str,
  city: str,
  region: str,
  country: str,
  locale: str,
  timeZone: str,
} satisfies Record<string, JsonSchema>;

/** Counters and trigger data every send carries (as on `emailSend`). */
const sendExtras = {
  transactionalData: triggerData,
  catalogCollectionCount: int,
  catalogLookupCount: int,
  productRecommendationCount: int,
  locale: str,
} satisfies Record<string, JsonSchema>;

/** OpenAPI `DeviceInfo`: the app and device an in-app, inbox or embedded event came from. */
const deviceInfo = objectSchema({ appPackageName: str, deviceId: str, platform: str });
/** OpenAPI `InboxMessageContext`. */
const messageContext = objectSchema({ location: str, saveToInbox: bool, silentInbox: bool });
/** OpenAPI `CommerceItem`, as purchase `items` carry it. */
const commerceItems: JsonSchema = {
  type: ['null', 'array'],
  items: objectSchema({
    id: str, sku: str, name: str, description: str, categories: strArray, price: num, quantity: int, imageUrl: str, url: str, dataFields: obj,
  }),
};
/** Inbox or embedded impressions of a session (OpenAPI `Impression`). */
const impressions: JsonSchema = {
  type: ['null', 'array'],
  items: objectSchema({ messageId: str, placementId: int, silentInbox: bool, displayCount: int, displayDuration: num }),
};
/** A user's devices, as Iterable's user profile holds them (OpenAPI `Device`). */
const devices: JsonSchema = {
  type: ['null', 'array'],
  items: objectSchema({ token: str, platform: str, applicationName: str, endpointEnabled: bool, platformEndpoint: str, dataFields: obj }),
};
const phone = { toPhoneNumber: str, fromPhoneNumber: str } satisfies Record<string, JsonSchema>;
const skip = { reason: str } satisfies Record<string, JsonSchema>;

/**
 * Header columns of Iterable's `GET /api/campaigns/metrics` CSV: those of its 2017 recorded answers
 * and those later clients read by name (email, common, web push), plus one quoted header with a
 * comma that only the fake is known to send. A column Iterable adds later still lands, typed
 * from its first value.
 */
export const CAMPAIGN_METRIC_HEADERS = [
  'Average Custom Conversion Value', 'Average Order Value', 'Purchases / M', 'Purchases / M (Email)',
  'Purchases / M (Push, In-App)', 'Revenue', 'Revenue / M', 'Revenue / M (Email)', 'Sum of Custom Conversions',
  'Total Complaints', 'Total Custom Conversions', 'Total Email Holdout', 'Total Email Opens', 'Total Email Opens (filtered)',
  'Total Email Send Skips', 'Total Email Sends', 'Total Emails Bounced', 'Total Emails Clicked', 'Total Emails Delivered',
  'Total Hosted Unsubscribe Clicks', 'Total Purchases', 'Total Unsubscribes', 'Unique Custom Conversions', 'Unique Email Clicks',
  'Unique Email Opens', 'Unique Email Opens (filtered)', 'Unique Email Opens Or Clicks', 'Unique Email Sends',
  'Unique Emails Bounced', 'Unique Emails Delivered', 'Unique Hosted Unsubscribe Clicks', 'Unique Purchases',
  'Unique Unsubscribes', 'Total Web Push Clicks', 'Total Web Push Send Skips', 'Total Web Pushes Sent', 'Total WebPush Holdout',
  'Unique Web Push Clicks', 'Unique Web Pushes Sent',
] as const;

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
    // A metadata value is the JSON object stored under the key; its shape is the project's own.
    value: obj,
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
    transactionalData: triggerData,
    espName: str,
  }),
  email_send_skip: objectSchema({ ...eventBase, reason: str, transactionalData: triggerData }),
  // The subscriber's profile rides along (spec §3.10); the project's own profile fields are added
  // from getFields (schema-resolution.ts).
  email_subscribe: objectSchema({
    ...eventBase,
    ...profile,
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
    ...profile,
    ip: str,
    devices,
    'itblInternal.emailDomain': str,
    'itblInternal.documentCreatedAt': time,
    'itblInternal.documentUpdatedAt': time,
  }),
  // Contract §4a. Fields from Iterable's OpenAPI request models (TrackPurchaseRequest,
  // CommerceItem, TrackRequest, InApp*Request, DeviceInfo, Embedded*Request, Impression) and
  // its documented system-webhook event fields; project fields still become columns.
  hosted_unsubscribe_click: objectSchema({ ...messageRef, ...geo, url: str }),
  push_send: objectSchema({ ...messageRef, ...sendExtras, platformEndpoint: str, notificationsEnabled: bool }),
  push_open: objectSchema({ ...messageRef, platform: str, deviceId: str, appAlreadyRunning: bool, dataFields: obj }),
  push_uninstall: objectSchema({ ...messageRef, platformEndpoint: str, isGhostPush: bool }),
  push_bounce: objectSchema({ ...messageRef, platformEndpoint: str, isGhostPush: bool, ...skip }),
  push_send_skip: objectSchema({ ...messageRef, ...skip, transactionalData: triggerData }),
  in_app_send: objectSchema({ ...messageRef, ...sendExtras, expiresAt: time, priorityLevel: num, saveToInbox: bool, silentInbox: bool }),
  in_app_open: objectSchema({ ...messageRef, deviceInfo, messageContext }),
  in_app_click: objectSchema({ ...messageRef, clickedUrl: str, deviceInfo, messageContext }),
  in_app_close: objectSchema({ ...messageRef, clickedUrl: str, closeAction: str, inboxSessionId: str, deviceInfo, messageContext }),
  in_app_delete: objectSchema({ ...messageRef, deleteAction: str, deviceInfo, messageContext }),
  in_app_delivery: objectSchema({ ...messageRef, deviceInfo, messageContext }),
  in_app_send_skip: objectSchema({ ...messageRef, ...skip }),
  in_app_recall: objectSchema({ ...messageRef }),
  inbox_session: objectSchema({
    ...eventIdentity,
    inboxSessionId: str,
    inboxSessionStart: time,
    inboxSessionEnd: time,
    startTotalMessageCount: int,
    startUnreadMessageCount: int,
    endTotalMessageCount: int,
    endUnreadMessageCount: int,
    impressions,
    deviceInfo,
  }),
  inbox_message_impression: objectSchema({ ...messageRef, inboxSessionId: str, displayCount: int, displayDuration: num, silentInbox: bool, deviceInfo }),
  sms_send: objectSchema({ ...messageRef, ...sendExtras, ...phone, fromSMSSenderId: int, smsMessage: str, imageUrl: str }),
  sms_bounce: objectSchema({ ...messageRef, ...phone, fromSMSSenderId: int, smsProviderResponseCode: str, smsProviderResponseMessage: str }),
  sms_click: objectSchema({ ...messageRef, ...phone, url: str, ip: str, userAgent: str, userAgentDevice: str }),
  sms_received: objectSchema({ ...messageRef, ...phone, smsMessage: str }),
  sms_send_skip: objectSchema({ ...messageRef, ...skip, toPhoneNumber: str }),
  sms_usage_info: objectSchema({ ...messageRef, toPhoneNumber: str, countryCode: str, segmentCount: int, messageStatus: str, creditCost: num }),
  web_push_send: objectSchema({ ...messageRef, ...sendExtras, browserToken: str }),
  web_push_click: objectSchema({ ...messageRef, clickedUrl: str, ip: str, userAgent: str, userAgentDevice: str }),
  web_push_send_skip: objectSchema({ ...messageRef, ...skip }),
  rcs_send: objectSchema({ ...messageRef, ...sendExtras, ...phone, rcsMessage: str }),
  rcs_send_skip: objectSchema({ ...messageRef, ...skip, toPhoneNumber: str }),
  purchase: objectSchema({
    ...eventIdentity,
    id: str,
    campaignId: int,
    templateId: int,
    total: num,
    currencyCode: str,
    items: commerceItems,
    dataFields: obj,
  }),
  custom_event: objectSchema({
    ...eventIdentity,
    eventName: str,
    campaignId: int,
    templateId: int,
    dataFields: obj,
  }),
  embedded_send: objectSchema({ ...messageRef, placementId: int }),
  embedded_send_skip: objectSchema({ ...messageRef, placementId: int, ...skip }),
  embedded_click: objectSchema({ ...messageRef, placementId: int, buttonIdentifier: str, targetUrl: str, deviceInfo }),
  embedded_received: objectSchema({ ...messageRef, placementId: int, deviceInfo }),
  embedded_impression: objectSchema({ ...messageRef, placementId: int, displayCount: int, displayDuration: num, embeddedSessionId: str }),
  embedded_session: objectSchema({
    ...eventIdentity,
    embeddedSessionId: str,
    embeddedSessionStart: time,
    embeddedSessionEnd: time,
    impressions,
    deviceInfo,
  }),
  unknown_session: objectSchema({
    ...eventIdentity,
    sessionId: str,
    sessionStart: time,
    sessionEnd: time,
    ip: str,
    userAgent: str,
    deviceInfo,
  }),
  journey_exit: objectSchema({
    ...eventIdentity,
    workflowId: int,
    workflowName: str,
    exitReason: str,
  }),
  whatsapp_bounce: objectSchema({ ...messageRef, ...phone, errorCode: str, errorMessage: str }),
  whatsapp_click: objectSchema({ ...messageRef, ...phone, url: str }),
  whatsapp_received: objectSchema({ ...messageRef, ...phone, messageBody: str }),
  whatsapp_seen: objectSchema({ ...messageRef, ...phone }),
  whatsapp_send: objectSchema({ ...messageRef, ...sendExtras, ...phone, messageBody: str }),
  whatsapp_send_skip: objectSchema({ ...messageRef, ...skip, toPhoneNumber: str }),
  whatsapp_usage_info: objectSchema({ ...messageRef, toPhoneNumber: str, countryCode: str, conversationCategory: str, isBillable: bool, pricingModel: str }),
  // Contract §4a: the campaign id, a number per CSV header (snake-cased), and the campaign's updatedAt.
  campaign_metrics: objectSchema({
    id: { type: 'integer' },
    ...Object.fromEntries(CAMPAIGN_METRIC_HEADERS.map((header) => [snakeCaseHeader(header), num])),
    updatedAt: time,
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
      // `object` (its children arrive as dotted fields of their own) and types we do not know.
      return anyJsonValue;
  }
}

/** Names of the properties declared `format: date-time` in a schema. */
export function dateTimeFields(schema: JsonSchema): string[] {
  return Object.entries(schema.properties ?? {})
    .filter(([, property]) => property.format === 'date-time')
    .map(([name]) => name);
}
