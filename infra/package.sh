#!/usr/bin/env bash
# Package one stage offline: one SAM template (Chalice's functions + infra/) and the Lambda zip, linted.
#
#   infra/package.sh <stage> [outdir]        # default outdir: build/<stage>
#
# Any stage with an entry in .chalice/config.json (`make stage STAGE=<stage> FROM_STAGE=prod` writes one).
#
# Steps: combine infra/data.json + infra/resources.json into one merge template (chalice takes one
# file), `chalice package --merge-template`, then cfn-lint on the packaged template and on data.json.
# Needs no AWS credentials and no network beyond what pip already cached for the Lambda wheels.
set -euo pipefail

STAGE="${1:?usage: infra/package.sh <stage> [outdir]}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${2:-$ROOT/build/$STAGE}"

BIN="$ROOT/.venv/bin"
[[ -x "$BIN/chalice" ]] || BIN="$(dirname "$(command -v chalice)")"
PYTHON="$BIN/python"; [[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)"
(cd "$ROOT" && "$PYTHON" -m infra.stack check --stage "$STAGE") || exit 2

# chalice wants a region even though the template only uses ${AWS::Region}.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
MERGE="$(mktemp "${TMPDIR:-/tmp}/sms-gateway-merge-XXXXXX.json")"
trap 'rm -f "$MERGE"' EXIT
"$PYTHON" "$ROOT/infra/combine_templates.py" "$ROOT/infra/data.json" "$ROOT/infra/resources.json" >"$MERGE"

cd "$ROOT"
"$BIN/chalice" package --stage "$STAGE" --merge-template "$MERGE" "$OUT"
cp "$MERGE" "$OUT/merge-template.json"

# Errors and warnings fail the build; informational findings are printed only with CFN_LINT_INFO=1.
lint_args=()
[[ "${CFN_LINT_INFO:-0}" == "1" ]] && lint_args+=(--info)
"$BIN/cfn-lint" "${lint_args[@]}" "$OUT/sam.json" "$ROOT/infra/data.json"

echo "packaged $STAGE: $OUT/sam.json + $OUT/deployment.zip ($(du -h "$OUT/deployment.zip" | cut -f1))"
