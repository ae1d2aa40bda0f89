import { Elysia } from 'elysia'
import type { MetricsRegistry } from './metrics'
import { HttpError } from './problem'
import { pathOf } from './request-id'

/**
 * CONTRACT §9 threat blocking: requests from known scanners and for paths only probes ask for are
 * answered at request start, before rate limiting, parsing or any database work, and counted.
 * Only the user agent and the path are inspected, never a query string or a body, so ordinary
 * text (an apostrophe, `--`, `<` in a search or a post) can never be blocked.
 */
const SCANNER_AGENTS =
  /\b(sqlmap|nikto|nmap|masscan|zgrab|wpscan|gobuster|dirbuster|dirb|nuclei|acunetix|netsparker|openvas|w3af|havij|whatweb|feroxbuster|ffuf|jaeles|arachni|skipfish|zmeu)\b/i

const PROBE_PATHS =
  /^\/(?:\.env(?:\.|$|\/)|\.git(?:\/|$)|\.svn\/|\.hg\/|\.ds_store$|wp-admin|wp-login\.php|wp-content\/|wp-includes\/|xmlrpc\.php|phpmyadmin|pma\/|myadmin\/|adminer\.php|server-status|cgi-bin\/|vendor\/phpunit|\.aws\/|\.ssh\/|config\.php|web\.config$|etc\/passwd|boaform\/|actuator\/)/i

export type ThreatReason = 'scanner_user_agent' | 'probe_path'

export function threatOf(path: string, userAgent: string | null): ThreatReason | null {
  if (userAgent && SCANNER_AGENTS.test(userAgent)) return 'scanner_user_agent'
  if (PROBE_PATHS.test(path)) return 'probe_path'
  return null
}

export const threatBlock = (registry: MetricsRegistry) => {
  const blocks = registry.counter(
    'security_threat_blocks_total',
    'Requests refused as scanner or probe traffic.',
    ['reason'],
  )
  return new Elysia({ name: 'threat-block' })
    .onRequest(({ request }) => {
      const reason = threatOf(pathOf(request.url), request.headers.get('user-agent'))
      if (!reason) return
      blocks.inc({ reason })
      // Probes get the same 404 as any missing path; scanners are told plainly.
      throw reason === 'probe_path'
        ? new HttpError(404, 'not_found', 'No such resource.')
        : new HttpError(403, 'forbidden', 'Automated scanning is not allowed.')
    })
    .as('global')
}
