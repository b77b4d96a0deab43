#!/usr/bin/env sh
# Regenerates contracts/triton/gen/ from the vendored schemas in triton-image/proto/.
# The output is committed, so only run this after updating a vendored .proto file.
set -eu
cd "$(dirname "$0")/.."
npx buf generate
