/**
 * `date.toISOString()`, computed in plain arithmetic: V8's goes through the runtime and costs a
 * microsecond or more, which was a quarter of the fold's time per event (every event carries its
 * time into the machine as an ISO string). Same string for every date: years outside 0..9999
 * (which toISOString writes with six digits and a sign) and invalid dates go to toISOString
 * itself; test/unit/iso-time.test.ts compares the two over the whole range of dates.
 */
export function isoTime(date: Date): string {
  const ms = date.getTime();
  // 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z; NaN fails both comparisons.
  if (!(ms >= -62167219200000 && ms <= 253402300799999)) return date.toISOString();
  let days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  // Days since 1970-01-01 to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
  days += 719_468;
  const era = Math.floor(days / 146_097);
  const dayOfEra = days - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}.${pad(millis, 3)}Z`;
}

function pad(n: number, width: number): string {
  const s = String(n);
  return s.length >= width ? s : "0000".slice(0, width - s.length) + s;
}
