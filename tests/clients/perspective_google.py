"""Google's own discovery-based client (google-api-python-client), unchanged apart from the discovery URL.

    SIFT_BASE=http://127.0.0.1:8000 SIFT_KEY=sift_... python tests/clients/perspective_google.py

The first request is Perspective's own Python example; the others ask for every attribute with spans, and for an
attribute sift does not have (Google's HttpError, as Perspective would raise it).
"""

from __future__ import annotations

import json
import os

from googleapiclient import discovery
from googleapiclient.errors import HttpError

base = os.environ["SIFT_BASE"].rstrip("/")
client = discovery.build("commentanalyzer", "v1alpha1", developerKey=os.environ.get("SIFT_KEY") or None,
                         discoveryServiceUrl=f"{base}/$discovery/rest?version=v1alpha1", static_discovery=False)

out: dict[str, object] = {}
analyze_request = {"comment": {"text": "friendly greetings from python"}, "requestedAttributes": {"TOXICITY": {}}}
out["analyze"] = client.comments().analyze(body=analyze_request).execute()
every = ["TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT"]
out["attributes"] = client.comments().analyze(body={
    "comment": {"text": "You f***ing idiot, I'll smash your face in"}, "requestedAttributes": {a: {} for a in every},
    "spanAnnotations": True, "doNotStore": True, "clientToken": "py-1", "languages": ["en"]}).execute()
try:
    client.comments().analyze(body={"comment": {"text": "hello"}, "requestedAttributes": {"FLIRTATION": {}}}).execute()
    out["unknown_attribute"] = "no error"
except HttpError as error:
    out["unknown_attribute"] = {"status": error.resp.status, "reason": error.reason,
                                "error": json.loads(error.content)["error"]}
print(json.dumps(out, indent=2))
