# syntax=docker/dockerfile:1
# authz-sidecar image: build with dev dependencies, run with production dependencies only.
#
#   docker build -t ghcr.io/example/authz-sidecar:0.1.0 .
#   docker run --read-only -v authz-cache:/var/lib/authz-sidecar \
#     -v "$PWD/deploy/examples:/etc/authz-sidecar:ro" ghcr.io/example/authz-sidecar:0.1.0
#
# k8s/base runs it with a read-only root filesystem as uid 10001; test/deploy/dockerfile.test.ts
# checks this file (stages, installs, user, entrypoint, and that dist/src imports no package
# outside "dependencies").

# ---------------------------------------------------------------- build
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Lock file first: the npm ci layer is reused until the dependencies change. No install
# script is needed (protobufjs's only prints a version hint).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
# tsconfig also includes testkit/, test/ and bench/; they are not in the context, so only src/ is
# compiled, to dist/src. Then scripts/bundle.mjs bundles the sidecar into one file,
# dist/authz-sidecar.mjs: it starts ~0.2 s sooner than from ~200 modules (docs/performance.md).
RUN npm run build

# ---------------------------------------------------------------- runtime
FROM node:20-bookworm-slim AS runtime
# tini as PID 1: it forwards SIGTERM to node and reaps zombies. The sidecar handles
# SIGTERM/SIGINT itself (drain, exit 0), but only once its servers are up; as PID 1, node
# would ignore a SIGTERM that arrives earlier (the kernel drops signals PID 1 has no handler
# for), leaving the pod to wait for SIGKILL at the end of its grace period.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, from the lock file; the npm cache goes with the layer. The
# sidecar's bundle needs none of them; authzctl (bin/authzctl) does.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# Loaded at run time by authzctl check: dist/src/grpc/protos.js reads ../../../proto, i.e. /app/proto.
COPY proto ./proto
COPY bin ./bin
# The only directory the sidecar writes (nats.cacheDir). Everything else is read-only to
# uid 10001, so the container runs with a read-only root filesystem; in Kubernetes an
# emptyDir is mounted here.
RUN mkdir -p /var/lib/authz-sidecar \
 && chown 10001:10001 /var/lib/authz-sidecar \
 && chmod 0700 /var/lib/authz-sidecar
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# gRPC ext_authz + health (127.0.0.1 by default), admin /healthz /readyz /metrics.
EXPOSE 9191 9192
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz on the admin port.
# bin/authz-sidecar execs node with the flags the sidecar needs on dist/authz-sidecar.mjs; the
# same launcher serves npm start, the demo, the tests and the benchmarks, so the flags are
# written once, with their reasons, in that file.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/bin/authz-sidecar"]
CMD ["--config", "/etc/authz-sidecar/config.yaml"]
