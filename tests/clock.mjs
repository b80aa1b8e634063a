// The tests' one clock. Every suite runs as if it were one fixed instant:
// `TEST_NOW` (an RFC 3339 instant) when it is set, else the suite's own
// default. Nothing reads the wall clock to decide a period: the Worker gets
// the instant through its `x-now` test seam, the browser through
// playwright-core's clock, and seeded rows are placed relative to it.
//
//   TEST_NOW=2029-10-01T00:00:00.005Z scripts/test-worker.sh

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** Reads an RFC 3339 instant, or throws naming where it came from. */
export function parseInstant(text, origin = "TEST_NOW") {
  const ms = RFC3339.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) {
    throw new Error(`${origin} must be an RFC 3339 instant such as 2026-06-17T12:00:00Z (got ${JSON.stringify(text)})`);
  }
  return new Date(ms);
}

/**
 * The instant a suite runs at: `TEST_NOW`, else `suiteDefault`. Returned as
 * `{ date, ms, iso }` (iso with milliseconds, as the Worker writes them).
 */
export function testClock(suiteDefault) {
  const fromEnv = process.env.TEST_NOW;
  const date = fromEnv ? parseInstant(fromEnv) : parseInstant(suiteDefault, "the suite's default instant");
  const ms = date.getTime();
  return { date, ms, iso: date.toISOString(), at: (offsetMs) => new Date(ms + offsetMs).toISOString() };
}

const DAY = 86_400_000;

/** The UTC day, week (from Monday) and month windows of an instant, epoch ms. */
export function windows(ms) {
  const day = ms - (((ms % DAY) + DAY) % DAY);
  const weekday = (new Date(day).getUTCDay() + 6) % 7;
  const d = new Date(day);
  const monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return {
    day: { start: day, end: day + DAY },
    week: { start: day - weekday * DAY, end: day + (7 - weekday) * DAY },
    month: { start: monthStart, end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) },
  };
}

/** The UTC day, week and month starts of an instant, epoch ms. */
export function periodStarts(ms) {
  const w = windows(ms);
  return { day: w.day.start, week: w.week.start, month: w.month.start };
}
