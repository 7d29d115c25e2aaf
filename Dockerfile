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
# sidecar's bundle needs none of them; authzctl (dist/src/cli/authzctl.js) does.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# Loaded at run time by authzctl check: dist/src/grpc/protos.js reads ../../../proto, i.e. /app/proto.
COPY proto ./proto
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
# node's flags, the one list the process starts with: package.json's "start" repeats it and
# test/deploy/dockerfile.test.ts checks the two agree; the bench and the tests start the
# sidecar with it. The sidecar changes no V8 flag once started; --check-config prints these.
#   --min/max-semi-space-size=16  a fixed new space, two 16 MiB semi-spaces: left to size
#       itself, V8 ran the sidecar under load promoting every scavenge's survivors.
#   --heap-growing-percent=100    a full collection when the heap reaches 2 x the live heap:
#       under the 288 MiB cap V8 picks ~1.3 x, a full collection every ~120 ms under load
#       (measured: ~14.5k -> 17.6k cached-token rps, RSS 141 MiB with 100,000 cached tokens).
#   --expose-gc                   the gc() that runtime.idleCollection runs.
# (docs/performance.md.) On the command line, together, because Node refuses
# --min-semi-space-size and --heap-growing-percent in NODE_OPTIONS; the heap cap stays in
# the deployment's NODE_OPTIONS, next to the memory limit it is derived from.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--min-semi-space-size=16", "--max-semi-space-size=16", "--heap-growing-percent=100", "--expose-gc", "dist/authz-sidecar.mjs"]
CMD ["--config", "/etc/authz-sidecar/config.yaml"]
