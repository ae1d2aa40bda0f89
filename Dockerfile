# syntax=docker/dockerfile:1
#
# NeoForge: one Bun process serving the API, Swagger UI and metrics on port 3000.
#
#   docker build -t neoforge .
#   docker run --rm -p 3000:3000 \
#     -e DATABASE_URL=postgres://user:pass@db:5432/neoforge \
#     -e APP_SECRET=<32+ characters> neoforge
#
# In production the app refuses to start without DATABASE_URL and APP_SECRET (CONTRACT §10).
# docker-compose.yml runs it next to PostgreSQL.

ARG BUN_VERSION=1.4.5

# ---- every dependency, dev ones included (the Swagger UI bundle comes from here) ----
FROM oven/bun:${BUN_VERSION} AS deps
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile

# ---- runtime dependencies only ----
FROM oven/bun:${BUN_VERSION} AS prod-deps
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile --production

# ---- runtime ----
FROM oven/bun:${BUN_VERSION} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000

# Files stay owned by root: the app user can read its code but not change it.
COPY --from=prod-deps /app/node_modules ./node_modules
# @scalar/api-reference is a devDependency, but server/http/openapi.ts serves this one file as
# the Swagger UI's bundle (so /swagger works offline): copy just it.
COPY --from=deps /app/node_modules/@scalar/api-reference/dist/browser/standalone.js \
     ./node_modules/@scalar/api-reference/dist/browser/standalone.js
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
