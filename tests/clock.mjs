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

/** An instant as `{ date, ms, iso, at(offsetMs) }` (iso with milliseconds, as the Worker writes them). */
function instant(ms) {
  return { date: new Date(ms), ms, iso: new Date(ms).toISOString(), at: (offsetMs) => new Date(ms + offsetMs).toISOString() };
}

/**
 * The instant a suite runs at: `TEST_NOW`, else `suiteDefault`. Returned as
 * `{ date, ms, iso, at(offsetMs) }`, with `clear`: the same instant moved,
 * if need be, to at least CLEAR_MS before its day ends (see clearOfDayEnd).
 */
export function testClock(suiteDefault) {
  const fromEnv = process.env.TEST_NOW;
  const date = fromEnv ? parseInstant(fromEnv) : parseInstant(suiteDefault, "the suite's default instant");
  const ms = date.getTime();
  return { ...instant(ms), clear: instant(clearOfDayEnd(ms)) };
}

const DAY = 86_400_000;

/** How long before its day's end `CLOCK.clear` is, at least. */
export const CLEAR_MS = 10 * 60_000;

/**
 * `ms` itself, or, when its UTC day ends less than `marginMs` after it, the
 * instant `marginMs` before that end: always in the same UTC day as `ms`, so
 * in the same week, month and year, and no period of any kind ends within
 * `marginMs` of it (every period ends at a day's end).
 *
 * For a test that must see no period end while it runs. Under the test seams
 * each request runs at its `x-now`, but what the Worker does on its own (a
 * port gate's alarm: hold expiries, the resolution of an alert at its
 * period's end, deliveries) runs on the gate's clock, which keeps moving in
 * real time from the last request's instant: a test sent at 23:59:59.900
 * sees its day end 100 ms later. Such a test runs at `CLOCK.clear`, every
 * request of it (polls included: a port's routes ask its gate for the
 * answer's headers, which moves the gate's clock back to the request's).
 */
export function clearOfDayEnd(ms, marginMs = CLEAR_MS) {
  return Math.min(ms, windows(ms).day.end - marginMs);
}

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
