#!/usr/bin/env bash
# Deploy one stage: infra/package.sh, upload the Lambda zip (aws cloudformation package), then one
# CloudFormation stack with everything (aws cloudformation deploy). docs/deploy.md has the full runbook.
#
#   ARTIFACT_BUCKET=my-bucket VPC_ID=vpc-... PRIVATE_SUBNET_IDS=subnet-a,subnet-b infra/deploy.sh prod
#   infra/deploy.sh prod --dry-run          # print the AWS commands instead of running them
#
# Optional: STACK_NAME (sms-gateway-<stage>), ALARM_EMAIL, REDIS_NODE_TYPE (cache.t4g.small),
# REDIS_NUM_CACHE_CLUSTERS (2), REDIS_TRANSIT_ENCRYPTION (true), LOG_RETENTION_DAYS (90),
# BACKLOG_AGE_ALARM_S (300), TABLE_DELETION_PROTECTION (true), CHANGESET_ONLY=1 (create the change
# set for review, do not execute it), AWS_PROFILE / AWS_REGION as usual.
set -euo pipefail

STAGE="${1:?usage: infra/deploy.sh <stage> [--dry-run]}"
DRY_RUN=0
[[ "${2:-}" == "--dry-run" ]] && DRY_RUN=1
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/build/$STAGE"
STACK_NAME="${STACK_NAME:-sms-gateway-$STAGE}"
: "${ARTIFACT_BUCKET:?set ARTIFACT_BUCKET (an S3 bucket for the Lambda package)}"
: "${VPC_ID:?set VPC_ID}"
: "${PRIVATE_SUBNET_IDS:?set PRIVATE_SUBNET_IDS (comma-separated, two AZs or more)}"

run() {
  if [[ "$DRY_RUN" == "1" ]]; then printf '+'; printf ' %q' "$@"; echo; else "$@"; fi
}

"$ROOT/infra/package.sh" "$STAGE" "$OUT"

run aws cloudformation package \
  --template-file "$OUT/sam.json" \
  --s3-bucket "$ARTIFACT_BUCKET" --s3-prefix "sms-gateway/$STAGE" \
  --output-template-file "$OUT/packaged.yaml"

deploy_args=(
  --template-file "$OUT/packaged.yaml"
  --stack-name "$STACK_NAME"
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
  --no-fail-on-empty-changeset
  --tags "service=sms-gateway" "stage=$STAGE"
  --parameter-overrides
    "Stage=$STAGE"
    "VpcId=$VPC_ID"
    "PrivateSubnetIds=$PRIVATE_SUBNET_IDS"
    "AlarmEmail=${ALARM_EMAIL:-}"
    "RedisNodeType=${REDIS_NODE_TYPE:-cache.t4g.small}"
    "RedisNumCacheClusters=${REDIS_NUM_CACHE_CLUSTERS:-2}"
    "RedisTransitEncryption=${REDIS_TRANSIT_ENCRYPTION:-true}"
    "LogRetentionDays=${LOG_RETENTION_DAYS:-90}"
    "BacklogAgeAlarmS=${BACKLOG_AGE_ALARM_S:-300}"
    "TableDeletionProtection=${TABLE_DELETION_PROTECTION:-true}"
)
[[ "${CHANGESET_ONLY:-0}" == "1" ]] && deploy_args+=(--no-execute-changeset)
run aws cloudformation deploy "${deploy_args[@]}"

if [[ "$DRY_RUN" == "1" || "${CHANGESET_ONLY:-0}" == "1" ]]; then
  exit 0
fi

endpoint=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
  --query "Stacks[0].Outputs[?OutputKey=='EndpointURL'].OutputValue" --output text)
echo "API: $endpoint"
# Smoke test: /health probes Redis, DynamoDB and SQS from inside the VPC; 200 means all three answer.
for _ in 1 2 3 4 5 6; do
  if curl -fsS --max-time 10 "${endpoint%/}/health"; then echo; echo "smoke test passed"; exit 0; fi
  sleep 10
done
echo "smoke test failed: GET ${endpoint%/}/health did not return 200 (see docs/deploy.md#rollback)" >&2
exit 1
