#!/bin/sh
# Prints the demo's greeting: who built it and where.
set -eu
echo "${GREETING:-Hello}, from job ${CI_JOB_ID:-?} of pipeline ${CI_PIPELINE_ID:-?}"
echo "commit ${CI_COMMIT_SHORT_SHA:-unknown} on ${CI_COMMIT_REF_NAME:-unknown}"
