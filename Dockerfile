# syntax=docker/dockerfile:1
#
# countersign appliance image.
#
#   docker build -t countersign:0.1.0 .
#   docker compose -f deploy/compose.yaml up -d        (see docs/install.md)
#
# The image runs the TypeScript sources directly with Node 24's type stripping, the way the test
# suite runs them: the code that was tested is byte for byte the code that runs, with no compile
# step in between (src/ only holds erasable TypeScript; Node refuses type stripping under
# node_modules/, which src/ is not). The first stage type-checks those sources; the final stage
# takes its src/ from there, so an image cannot be built from sources that do not type-check.
#
# Run time: non-root, read-only root filesystem, configuration in /etc/countersign and data in
# /var/lib/countersign (volumes), /tmp as a tmpfs (configuration changes are validated on a staged
# copy there), no network access beyond the registries the configuration names.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- check: all dependencies, type check ----------------------------------------------------
FROM ${NODE_IMAGE} AS check
WORKDIR /build
COPY package.json package-lock.json .npmrc ./
# No dependency needs an install script (better-sqlite3 ships N-API prebuilds).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc --noEmit -p tsconfig.build.json

# ---- runtime ----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /opt/countersign

# A dedicated system account with a fixed id, so volume ownership is predictable.
RUN groupadd --system --gid 10001 countersign \
 && useradd --system --uid 10001 --gid countersign --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin countersign

COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/*

COPY --from=check /build/src ./src
COPY deploy/countersign.yaml /etc/countersign/countersign.yaml

# Commands for `docker exec`: countersign (the CLI) and countersign-cosign (the cosign drop-in).
RUN printf '#!/bin/sh\nexec node /opt/countersign/src/cli/main.ts "$@"\n' > /usr/local/bin/countersign \
 && printf '#!/bin/sh\nexec node /opt/countersign/src/shim/main.ts "$@"\n' > /usr/local/bin/countersign-cosign \
 && chmod 0755 /usr/local/bin/countersign /usr/local/bin/countersign-cosign \
 && mkdir -p /etc/countersign/keys /etc/countersign/policies /etc/countersign/trust-root /var/lib/countersign \
 && chown -R countersign:countersign /etc/countersign /var/lib/countersign \
 && chmod 0750 /etc/countersign /etc/countersign/keys /etc/countersign/policies /etc/countersign/trust-root \
 && chmod 0700 /var/lib/countersign \
 && chmod 0640 /etc/countersign/countersign.yaml

USER countersign:countersign
VOLUME ["/etc/countersign", "/var/lib/countersign"]
EXPOSE 8080

# Liveness with node itself (the image has no curl). The URL is an environment variable so that a
# deployment on another port can change it; with client-certificate TLS, override the health check.
ENV COUNTERSIGN_HEALTH_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.COUNTERSIGN_HEALTH_URL, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/countersign/src/cli/main.ts"]
CMD ["serve", "--config", "/etc/countersign"]
