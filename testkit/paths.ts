import { fileURLToPath } from 'node:url';

/** Repository root (the testkit runs from dist/testkit/, sources and fixtures live at the root). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = `${ROOT}test/fixtures`;
export const EXAMPLES = `${ROOT}deploy/examples`;
/** The sidecar as the image runs it: `npm run build` bundles dist/src/main.js and its dependencies into one file (scripts/bundle.mjs). */
export const SIDECAR_BIN = `${ROOT}dist/authz-sidecar.mjs`;
export const AUTHZCTL_BIN = `${ROOT}dist/src/cli/authzctl.js`;
export const ENVOY_PROTO_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => `${ROOT}node_modules/@grpc/grpc-js-xds/deps/${dir}`);
