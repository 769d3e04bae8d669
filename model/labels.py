"""The label set of the labelling guide (shared/LABELS.md).

The learnt classifier reads its own label list from its artifact; these constants
are the guide's vocabulary that the rules, the API schema and the data format share.
"""

from typing import Final

LABELS: Final[tuple[str, ...]] = ("query", "complaint", "compliment", "negative", "abusive", "pii")
FLAGS: Final[tuple[str, ...]] = ("spam", "staff_named")
CHANNELS: Final[tuple[str, ...]] = ("facebook", "twitter", "linkedin", "youtube", "instagram", "other")
TARGETS: Final[tuple[str, ...]] = LABELS + FLAGS
