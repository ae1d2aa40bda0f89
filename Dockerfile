# syntax=docker/dockerfile:1
#
# NeoForge: one Bun process serving the API, the admin console, the Swagger UI and metrics on
# port 3000.
#
#   docker build -t neoforge .
#   docker run --rm -p 3000:3000 \
#     -e DATABASE_URL=postgres://user:pass@db:5432/neoforge \
#     -e APP_SECRET=<32+ characters> neoforge
#
# In production the app refuses to start without DATABASE_URL and APP_SECRET (CONTRACT §10).
# docker-compose.yml runs it next to PostgreSQL.

ARG BUN_VERSION=1.4.5

FROM oven/bun:${BUN_VERSION} AS base
WORKDIR /app

# ---- what `bun install` reads: the lockfile, bunfig.toml and every workspace's package.json ----
# Copied out on their own so the dependency layers below are rebuilt only when these change.
FROM base AS manifests
COPY . .
RUN mkdir -p /manifests \
 && cp package.json bun.lock bunfig.toml /manifests/ \
 && for manifest in */package.json; do \
      [ -f "$manifest" ] || continue; \
      mkdir -p "/manifests/$(dirname "$manifest")" && cp "$manifest" "/manifests/$manifest"; \
    done

# ---- every dependency, dev ones included: builds the console, provides the Swagger UI bundle ----
FROM base AS deps
COPY --from=manifests /manifests/ ./
# Bun links packages from node_modules/.bun, so node_modules/@scalar/api-reference may be a
# symlink: take a real copy of the Swagger UI bundle for the runtime stage.
RUN bun install --frozen-lockfile \
 && mkdir -p /swagger-ui \
 && cp -L node_modules/@scalar/api-reference/dist/browser/standalone.js /swagger-ui/standalone.js

# ---- runtime dependencies only ----
FROM base AS prod-deps
COPY --from=manifests /manifests/ ./
RUN bun install --frozen-lockfile --production

# ---- the admin console (SvelteKit, static build), when the repository has one ----
FROM deps AS console
COPY . .
RUN if [ -f admin/package.json ]; then cd admin && bun run build; fi \
 && mkdir -p /app/admin/build

# ---- runtime ----
FROM base AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000

# Files stay owned by root: the app user can read its code but not change it.
COPY --from=prod-deps /app/node_modules ./node_modules
# @scalar/api-reference is a devDependency, but server/http/openapi.ts serves this one file as
# the Swagger UI's bundle (so /swagger works offline): copy just it, to the same path.
COPY --from=deps /swagger-ui/standalone.js \
     ./node_modules/@scalar/api-reference/dist/browser/standalone.js
COPY --from=console /app/admin/build ./admin/build
COPY package.json tsconfig.json ./
# db/ carries the committed drizzle-kit migrations, applied at start under an advisory lock.
COPY db ./db
COPY server ./server

# The official image ships an unprivileged user `bun`.
USER bun

EXPOSE 3000

# No curl in the image: Bun itself asks the liveness endpoint.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:3000/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Exec form: bun is PID 1 and receives SIGTERM itself (drains in-flight requests, exits 0).
CMD ["bun", "server/index.ts"]
