#!/usr/bin/env bash
# Perspective's own cURL example (its "Sample requests" page), with only the address changed:
#   SIFT_BASE=http://127.0.0.1:8000 SIFT_KEY=sift_... bash tests/clients/perspective_curl.sh
# Its body is not strict JSON (the member names are not quoted); Google's front end reads it, and so does sift.
set -euo pipefail
curl -sS -H "Content-Type: application/json" --data \
    '{comment: {text: "what kind of idiot name is foo?"},
       languages: ["en"],
       requestedAttributes: {TOXICITY:{}} }' \
    "${SIFT_BASE%/}/v1alpha1/comments:analyze?key=${SIFT_KEY:-}"
