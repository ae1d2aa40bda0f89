/** Formatting for people: dates in the browser's locale and zone, ages, devices, statuses. */

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—'
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date)
}

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
]

/** "3 hours ago", "in 2 days". */
export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—'
  const seconds = (new Date(iso).getTime() - now) / 1000
  if (Number.isNaN(seconds)) return iso
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit)
  }
  return 'just now'
}

/** A compact age: "45m", "3h", "2d", "5w". */
export function formatAge(iso: string, now = Date.now()): string {
  const minutes = Math.max(0, Math.floor((now - new Date(iso).getTime()) / 60_000))
  if (minutes < 60) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours}h`
  const days = Math.floor(hours / 24)
  if (days < 28) return `${days}d`
  return `${Math.floor(days / 7)}w`
}

/** "Firefox on Linux" from a user agent; the raw string stays available as a tooltip. */
export function describeDevice(userAgent: string | null): string {
  if (!userAgent) return 'Unknown device'
  const browser =
    /Edg\//.test(userAgent)
      ? 'Edge'
      : /OPR\//.test(userAgent)
        ? 'Opera'
        : /Firefox\//.test(userAgent)
          ? 'Firefox'
          : /Chrome\//.test(userAgent)
            ? 'Chrome'
            : /Safari\//.test(userAgent)
              ? 'Safari'
              : /curl\//i.test(userAgent)
                ? 'curl'
                : /bun|node|python|go-http|okhttp|axios|undici/i.test(userAgent)
                  ? 'API client'
                  : null
  const os = /Windows/.test(userAgent)
    ? 'Windows'
    : /iPhone|iPad/.test(userAgent)
      ? 'iOS'
      : /Mac OS X|Macintosh/.test(userAgent)
        ? 'macOS'
        : /Android/.test(userAgent)
          ? 'Android'
          : /Linux/.test(userAgent)
            ? 'Linux'
            : null
  if (browser && os) return `${browser} on ${os}`
  return browser ?? os ?? (userAgent.length > 40 ? `${userAgent.slice(0, 40)}…` : userAgent)
}

/** `partial_outage` -> `Partial outage`. */
export function humanize(value: string): string {
  const text = value.replaceAll('_', ' ').replaceAll('.', ' · ')
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** The first 8 characters of a UUID, for tables; the whole id stays in a tooltip. */
export const shortId = (id: string | null | undefined) => (id ? id.slice(0, 8) : '—')

type Tone = 'ok' | 'warn' | 'bad' | 'info' | ''

const tones: Record<string, Tone> = {
  // tickets
  open: 'info',
  pending: 'warn',
  resolved: 'ok',
  closed: '',
  urgent: 'bad',
  high: 'warn',
  normal: '',
  low: '',
  // posts
  published: 'ok',
  hidden: 'warn',
  rejected: 'bad',
  // services
  operational: 'ok',
  maintenance: 'info',
  degraded: 'warn',
  partial_outage: 'bad',
  major_outage: 'bad',
  // roles and sessions
  admin: 'bad',
  staff: 'info',
  user: '',
  active: 'ok',
  revoked: '',
  expired: '',
  inactive: 'bad',
}

export const toneOf = (value: string): Tone => tones[value] ?? ''
