#!/usr/bin/env bash
# LocalStack init hook (runs inside the container when LocalStack is ready): the resources of
# infra/data.json, named like the app's defaults (chalicelib/settings.py ENV_DEFAULTS).
# Idempotent: create-queue returns the existing queue, tables that exist are skipped.
set -euo pipefail

QUEUE="${DISPATCH_QUEUE_NAME:-sms-dispatch}"
REGION="${AWS_DEFAULT_REGION:-us-east-1}"

dlq_url=$(awslocal sqs create-queue --queue-name "${QUEUE}-dlq" \
  --attributes MessageRetentionPeriod=1209600 --query QueueUrl --output text)
dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)
# RedrivePolicy is a JSON document inside the JSON attribute map, hence the escaped quotes.
attributes=$(printf '{"VisibilityTimeout":"180","MessageRetentionPeriod":"345600","RedrivePolicy":"{\\"deadLetterTargetArn\\":\\"%s\\",\\"maxReceiveCount\\":\\"5\\"}"}' "$dlq_arn")
awslocal sqs create-queue --queue-name "$QUEUE" --attributes "$attributes" >/dev/null

table_exists() { awslocal dynamodb describe-table --table-name "$1" >/dev/null 2>&1; }

gsi() {  # name hash range
  printf '{"IndexName":"%s","KeySchema":[{"AttributeName":"%s","KeyType":"HASH"},{"AttributeName":"%s","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}' "$1" "$2" "$3"
}

if ! table_exists sms_requests; then
  awslocal dynamodb create-table --table-name sms_requests --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=id,AttributeType=S AttributeName=status,AttributeType=S \
      AttributeName=provider_used,AttributeType=S AttributeName=created_day,AttributeType=S \
      AttributeName=created_at,AttributeType=S AttributeName=open_shard,AttributeType=S \
      AttributeName=due_at,AttributeType=N \
    --key-schema AttributeName=id,KeyType=HASH \
    --global-secondary-indexes "[$(gsi by_status status created_at),$(gsi by_provider provider_used created_at),$(gsi by_day created_day created_at),$(gsi open_by_due open_shard due_at)]" \
    >/dev/null
fi
if ! table_exists sms_responses; then
  awslocal dynamodb create-table --table-name sms_responses --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=request_id,AttributeType=S AttributeName=attempt,AttributeType=N \
    --key-schema AttributeName=request_id,KeyType=HASH AttributeName=attempt,KeyType=RANGE >/dev/null
fi
if ! table_exists provider_health; then
  awslocal dynamodb create-table --table-name provider_health --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=provider_name,AttributeType=S \
    --key-schema AttributeName=provider_name,KeyType=HASH >/dev/null
fi
if ! table_exists sms_idempotency; then
  awslocal dynamodb create-table --table-name sms_idempotency --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=key,AttributeType=S \
    --key-schema AttributeName=key,KeyType=HASH >/dev/null
  awslocal dynamodb update-time-to-live --table-name sms_idempotency \
    --time-to-live-specification Enabled=true,AttributeName=expires_at >/dev/null
fi
echo "sms-gateway resources ready in ${REGION}: queue ${QUEUE} (+DLQ), 4 tables"
