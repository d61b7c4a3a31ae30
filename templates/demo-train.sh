#!/bin/sh
# "Trains" for $1 epochs of one second each, printing progress, and logs the loss of every epoch
# to Runledger with the execution's own token (PATCH /v2/lm/metrics), when curl is available.
epochs=${1:-5}
echo "training execution $RUNLEDGER_EXECUTION_ID in resource group $RUNLEDGER_RESOURCE_GROUP for $epochs epochs (lr=$LEARNING_RATE)"
trap 'echo "stop requested: saving a checkpoint and exiting"; exit 0' TERM
i=1
while [ "$i" -le "$epochs" ]; do
  sleep 1
  loss=$(awk "BEGIN { printf \"%.4f\", 1 / ($i + 1) }")
  echo "epoch $i/$epochs loss=$loss"
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -X PATCH "$RUNLEDGER_URL/v2/lm/metrics" \
      -H "Authorization: Bearer $RUNLEDGER_TOKEN" -H "AI-Resource-Group: $RUNLEDGER_RESOURCE_GROUP" \
      -H 'Content-Type: application/merge-patch+json' \
      -d "{\"executionId\":\"$RUNLEDGER_EXECUTION_ID\",\"metrics\":[{\"name\":\"loss\",\"value\":$loss,\"step\":$i}]}" || true
  fi
  i=$((i + 1))
done
echo "done"
