/**
 * `GET /api/campaigns/metrics` (spec §3.1, "Related"): cumulative metrics per campaign as CSV,
 * `text/plain; charset=utf-8`, header `id,<metric>,…`, one row per campaign asked for. The
 * metric names are Iterable's (its 2017 recorded answers and later clients that read them by
 * name); the values are a pure function of the campaign, so a test can recompute them.
 */
import type { FakeCampaign, FakeData } from './data-types.js';
import { hashString, mix32, Rng } from './random.js';

/**
 * The header after `id`, in the order the fake sends it. `Purchases / M (Push, In-App)` is [I]:
 * a header with a comma, which Iterable then quotes, so clients must parse real CSV.
 */
export const CAMPAIGN_METRIC_COLUMNS = [
  'Average Custom Conversion Value', 'Average Order Value', 'Purchases / M (Email)', 'Purchases / M (Push, In-App)', 'Revenue',
  'Revenue / M (Email)', 'Sum of Custom Conversions', 'Total Complaints', 'Total Custom Conversions', 'Total Email Holdout',
  'Total Email Opens', 'Total Email Opens (filtered)', 'Total Email Send Skips', 'Total Email Sends', 'Total Emails Bounced',
  'Total Emails Clicked', 'Total Emails Delivered', 'Total Hosted Unsubscribe Clicks', 'Total Purchases', 'Total Unsubscribes',
  'Unique Custom Conversions', 'Unique Email Clicks', 'Unique Email Opens', 'Unique Email Opens (filtered)',
  'Unique Email Opens Or Clicks', 'Unique Email Sends', 'Unique Emails Bounced', 'Unique Emails Delivered',
  'Unique Hosted Unsubscribe Clicks', 'Unique Purchases', 'Unique Unsubscribes', 'Total Web Push Clicks',
  'Total Web Push Send Skips', 'Total Web Pushes Sent', 'Total WebPush Holdout', 'Unique Web Push Clicks', 'Unique Web Pushes Sent',
] as const;

/** States in which a campaign has sent nothing yet: its counts are 0. */
const NOT_SENT = new Set(['Draft', 'Ready', 'Scheduled']);

/**
 * One campaign's metric cells as the CSV writes them: counts as integers (`57`), money and ratios
 * with a fraction (`12.5`, `0.0`), and an empty cell for an average without a denominator (no
 * purchases, no conversions), as Iterable leaves a metric it cannot compute.
 */
export function fakeCampaignMetrics(data: FakeData, campaign: FakeCampaign): Record<string, string> {
  const rng = new Rng(mix32(hashString(`metrics:${data.projectId}`) ^ campaign.id));
  const hasSent = !NOT_SENT.has(campaign.campaignState);
  const scale = hasSent ? 1 + rng.int(5000) : 0;
  const count = (ratio: number) => Math.floor(scale * ratio * (0.5 + rng.next()));
  const sends = scale;
  const delivered = Math.max(0, sends - count(0.03));
  const bounced = sends - delivered;
  const uniqueOpens = count(0.25);
  const uniqueClicks = Math.min(uniqueOpens, count(0.05));
  const purchases = count(0.01);
  const uniquePurchases = Math.min(purchases, count(0.008));
  const revenue = Math.round(purchases * (5 + rng.next() * 95) * 100) / 100;
  const conversions = count(0.02);
  const conversionSum = Math.round(conversions * rng.next() * 50 * 100) / 100;
  const unsubscribes = count(0.004);
  const hostedClicks = Math.min(unsubscribes, count(0.002));
  const webPushSent = campaign.messageMedium === 'WebPush' ? sends : 0;
  const money = (value: number) => (Number.isInteger(value) ? value.toFixed(1) : String(value));
  const perMille = (value: number) => money(sends === 0 ? 0 : Math.round((value / sends) * 1000 * 100) / 100);
  const cells: Record<(typeof CAMPAIGN_METRIC_COLUMNS)[number], string> = {
    'Average Custom Conversion Value': conversions === 0 ? '' : money(Math.round((conversionSum / conversions) * 100) / 100),
    'Average Order Value': purchases === 0 ? '' : money(Math.round((revenue / purchases) * 100) / 100),
    'Purchases / M (Email)': perMille(purchases),
    'Purchases / M (Push, In-App)': money(0),
    Revenue: money(revenue),
    'Revenue / M (Email)': perMille(revenue),
    'Sum of Custom Conversions': money(conversionSum),
    'Total Complaints': String(count(0.0005)),
    'Total Custom Conversions': String(conversions),
    'Total Email Holdout': String(count(0.01)),
    'Total Email Opens': String(uniqueOpens + count(0.1)),
    'Total Email Opens (filtered)': String(uniqueOpens + count(0.05)),
    'Total Email Send Skips': String(count(0.02)),
    'Total Email Sends': String(sends),
    'Total Emails Bounced': String(bounced),
    'Total Emails Clicked': String(uniqueClicks + count(0.02)),
    'Total Emails Delivered': String(delivered),
    'Total Hosted Unsubscribe Clicks': String(hostedClicks),
    'Total Purchases': String(purchases),
    'Total Unsubscribes': String(unsubscribes),
    'Unique Custom Conversions': String(Math.min(conversions, count(0.015))),
    'Unique Email Clicks': String(uniqueClicks),
    'Unique Email Opens': String(uniqueOpens),
    'Unique Email Opens (filtered)': String(Math.min(uniqueOpens, count(0.2))),
    'Unique Email Opens Or Clicks': String(uniqueOpens),
    'Unique Email Sends': String(sends),
    'Unique Emails Bounced': String(bounced),
    'Unique Emails Delivered': String(delivered),
    'Unique Hosted Unsubscribe Clicks': String(hostedClicks),
    'Unique Purchases': String(uniquePurchases),
    'Unique Unsubscribes': String(unsubscribes),
    'Total Web Push Clicks': String(Math.floor(webPushSent * 0.04)),
    'Total Web Push Send Skips': String(Math.floor(webPushSent * 0.01)),
    'Total Web Pushes Sent': String(webPushSent),
    'Total WebPush Holdout': '0',
    'Unique Web Push Clicks': String(Math.floor(webPushSent * 0.03)),
    'Unique Web Pushes Sent': String(webPushSent),
  };
  return cells;
}

/** A CSV cell: quoted when it holds a comma, a quote or a line end. */
function csvCell(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The metrics CSV for these campaign ids, in the order asked, each once: a row per campaign of the
 * project, none for an unknown id; `\n` between lines and none after the last. No campaign at
 * all still sends the header.
 */
export function campaignMetricsCsv(data: FakeData, ids: readonly number[]): string {
  const byId = new Map(data.campaigns.map((c) => [c.id, c]));
  const lines = [['id', ...CAMPAIGN_METRIC_COLUMNS].map(csvCell).join(',')];
  for (const id of new Set(ids)) {
    const campaign = byId.get(id);
    if (campaign === undefined) continue;
    const cells = fakeCampaignMetrics(data, campaign);
    lines.push([String(id), ...CAMPAIGN_METRIC_COLUMNS.map((column) => csvCell(cells[column] ?? ''))].join(','));
  }
  return lines.join('\n');
}
