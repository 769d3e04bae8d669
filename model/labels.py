"""The vocabulary of the product, defined once: labels, flags, channels, priorities, removal reasons.

The learnt classifier reads its own label list from its artifact; these are the guide's words
(shared/LABELS.md and the social media guide) that the rules, the policy, storage, the API schema
and the data format share. Each ``Literal`` type and its tuple are the same words: import them,
never write them out again.
"""

from typing import Final, Literal, get_args

Label = Literal["query", "complaint", "compliment", "negative", "abusive", "pii"]
Flag = Literal["spam", "staff_named"]
Target = Literal[Label, Flag]
Channel = Literal["facebook", "twitter", "linkedin", "youtube", "instagram", "other"]
Priority = Literal["urgent", "high", "medium", "normal", "low"]  # most urgent first
# What a removal is counted as against its author (repeat offenders are blocked by these).
RemovalReason = Literal["abusive", "pii", "staff_named", "spam"]

LABELS: Final[tuple[Label, ...]] = get_args(Label)
FLAGS: Final[tuple[Flag, ...]] = get_args(Flag)
TARGETS: Final[tuple[Target, ...]] = LABELS + FLAGS
CHANNELS: Final[tuple[Channel, ...]] = get_args(Channel)
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)
PRIORITY_RANK: Final[dict[str, int]] = {p: i for i, p in enumerate(PRIORITIES)}  # 0 urgent ... 4 low
REMOVAL_REASONS: Final[tuple[RemovalReason, ...]] = get_args(RemovalReason)
