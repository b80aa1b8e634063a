// Port calendars through the packed package: UTC needs nothing loaded;
// other zones need the time-zone part, whose version the package names;
// and for random instants, zones, week starts and month start days the
// package's windows equal local midnights computed independently here
// with the JS runtime's own time-zone data (Intl).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { budgetWindow, loadTimeZones, timeZoneDatabase, isAiBudgetError, previewSave } from 'ai-budget';

const budget = (period, calendar = {}) => ({ enabled: true, softCapTokens: 10, hardCapTokens: 10, period, ...calendar });

test('a UTC calendar works without the time-zone part; another zone asks for it', () => {
  assert.equal(timeZoneDatabase(), undefined);
  const w = budgetWindow(budget('day'), '2027-03-14T12:00:00Z');
  assert.equal(w.resetsAt.toISOString(), '2027-03-15T00:00:00.000Z');
  assert.throws(() => budgetWindow(budget('day', { timeZone: 'America/New_York' }), 0), (e) => {
    assert.ok(isAiBudgetError(e));
    assert.deepEqual([e.code, e.field], ['unknown-time-zone', 'timeZone']);
    return true;
  });
});

test('loading the time-zone part names its version and knows every zone', async () => {
  const part = await import('ai-budget/timezones');
  loadTimeZones(part);
  assert.equal(timeZoneDatabase(), part.version);
  assert.match(part.version, /^\d{4}[a-z]$/);
  const w = budgetWindow(budget('day', { timeZone: 'America/New_York' }), '2027-03-14T12:00:00Z');
  assert.deepEqual([w.periodStart.toISOString(), w.resetsAt.toISOString()], ['2027-03-14T05:00:00.000Z', '2027-03-15T04:00:00.000Z']);
  assert.throws(() => budgetWindow(budget('day', { timeZone: 'Mars/Olympus' }), 0), (e) => e.code === 'unknown-time-zone');
});

test('previewSave applies the gate rule of a calendar change: the period in progress keeps its end', () => {
  const current = budget('day');
  const now = '2027-03-10T18:00:00Z';
  const saved = previewSave(current, { timeZone: 'America/Los_Angeles' }, now, true);
  assert.deepEqual(saved.calendarChange, { timeZone: 'UTC', weekStart: 'monday', monthStartDay: 1, until: '2027-03-11T00:00:00.000Z' });
  assert.equal(budgetWindow(saved, now).resetsAt.toISOString(), '2027-03-11T00:00:00.000Z');
  // Then a first period to Los Angeles' midnight, then its days.
  assert.equal(budgetWindow(saved, '2027-03-11T00:00:00Z').resetsAt.toISOString(), '2027-03-11T08:00:00.000Z');
  assert.equal(budgetWindow(saved, '2027-03-11T08:00:00Z').resetsAt.toISOString(), '2027-03-12T08:00:00.000Z');
  // A port never saved takes the calendar at once.
  const first = previewSave(current, { timeZone: 'America/Los_Angeles' }, now, false);
  assert.equal(first.calendarChange, undefined);
  assert.equal(budgetWindow(first, now).resetsAt.toISOString(), '2027-03-11T08:00:00.000Z');
});

// ---------------------------------------------------------------- reference

const formats = new Map();
/** The local [year, month, day, hour, minute] of `ms` in `zone` (Intl). */
function local(ms, zone) {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formats.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)]));
  return [p.year, p.month, p.day, p.hour, p.minute];
}
const civil = ([y, m, d]) => Date.UTC(y, m - 1, d);
/** The first instant whose local date is `date` ([y, m, d]) or later. */
function dayStart(date, zone) {
  const target = civil(date);
  let t = target - 16 * 3600e3;
  while (civil(local(t, zone)) < target) t += 15 * 60e3;
  // Refine to the minute within the last step.
  let lo = t - 15 * 60e3;
  while (lo < t && civil(local(lo, zone)) < target) lo += 60e3;
  return lo;
}
const addDays = ([y, m, d], n) => {
  const x = new Date(Date.UTC(y, m - 1, d + n));
  return [x.getUTCFullYear(), x.getUTCMonth() + 1, x.getUTCDate()];
};
const monthStart = (y, m, day) => [y, m, Math.min(day, new Date(Date.UTC(y, m, 0)).getUTCDate())];
const WEEK = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
function expected(period, ms, zone, weekStart, monthStartDay) {
  const [y, m, d] = local(ms, zone);
  let start;
  let end;
  if (period === 'day') [start, end] = [[y, m, d], addDays([y, m, d], 1)];
  if (period === 'week') {
    const weekday = (new Date(civil([y, m, d])).getUTCDay() + 6) % 7; // 0: Monday
    start = addDays([y, m, d], -((7 + weekday - WEEK.indexOf(weekStart)) % 7));
    end = addDays(start, 7);
  }
  if (period === 'month') {
    const here = monthStart(y, m, monthStartDay);
    start = civil([y, m, d]) >= civil(here) ? here : monthStart(m === 1 ? y - 1 : y, m === 1 ? 12 : m - 1, monthStartDay);
    const [sy, sm] = start;
    end = monthStart(sm === 12 ? sy + 1 : sy, sm === 12 ? 1 : sm + 1, monthStartDay);
  }
  return [dayStart(start, zone), dayStart(end, zone)];
}

// Zones whose rules held still from 2005 to 2024, so the runtime's data
// and the package's agree on every instant drawn.
const ZONES = ['UTC', 'America/New_York', 'America/Los_Angeles', 'Europe/London', 'Europe/Berlin', 'Australia/Lord_Howe',
  'Asia/Kathmandu', 'Pacific/Chatham', 'Asia/Tokyo', 'Australia/Adelaide', 'America/St_Johns', 'Asia/Kolkata'];

test('for random instants and calendars, the package gives the local windows', () => {
  let seed = 20271107;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const from = Date.UTC(2008, 0, 1);
  const to = Date.UTC(2024, 0, 1);
  for (let i = 0; i < 400; i++) {
    const ms = from + Math.floor((next() * (to - from)) / 60e3) * 60e3;
    const zone = ZONES[Math.floor(next() * ZONES.length)];
    const weekStart = WEEK[Math.floor(next() * 7)];
    const monthStartDay = 1 + Math.floor(next() * 31);
    const period = ['day', 'week', 'month'][i % 3];
    const w = budgetWindow(budget(period, { timeZone: zone, weekStart, monthStartDay }), ms);
    const [start, end] = expected(period, ms, zone, weekStart, monthStartDay);
    const what = `${period} ${zone} ${weekStart} ${monthStartDay} at ${new Date(ms).toISOString()}`;
    assert.deepEqual([w.periodStart.toISOString(), w.resetsAt.toISOString()], [new Date(start).toISOString(), new Date(end).toISOString()], what);
    assert.ok(w.periodStart.getTime() <= ms && ms < w.resetsAt.getTime(), what);
  }
});
