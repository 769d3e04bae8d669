"""Importers for the public labelled data sets (see shared/data/MANIFEST.md).

Each maps its source's labels onto ours and records which of our targets the source
actually speaks about (``annotated``), so that training masks the rest: a sentiment
set says nothing about ``pii``, and its silence must not be learnt as "no".
Licences travel with every row. Sets whose terms restrict use (non-commercial,
share-alike, GPL, unclear research terms) are marked ``restricted``: training uses
them only when asked for them by name, and the model card says so.

The files are read from the path the user gives; nothing is copied into the repository.
Loading and transforming go through the ``datasets`` library (offline).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from training.data import DataError, Example


@dataclass(frozen=True)
class Importer:
    name: str
    licence: str
    restricted: bool
    annotated: frozenset[str]
    description: str
    load: Callable[[Path, Path], list[Example]]  # (source path, cache dir) -> rows


def _datasets(cache: Path):  # type: ignore[no-untyped-def]
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    return datasets


def _file(path: Path, name: str) -> Path:
    candidate = path / name if path.is_dir() else path
    if not candidate.is_file():
        raise DataError(f"expected {name} at {path} (give the data set's folder or the file itself with --from)")
    return candidate


Mapped = tuple[set[str], set[str]] | tuple[set[str], set[str], frozenset[str]]


def _licence(name: str) -> str:
    """The registry's statement of a source's licence: the only place it is written."""
    return IMPORTERS[name].licence


def _rows(ds: Any, importer: str, annotated: frozenset[str], to_labels: Callable[[dict], Mapped | None],
          text_field: str, group_field: str | None = None) -> list[Example]:
    """Rows in our format. ``to_labels`` may also say what one row speaks about (else the source's
    ``annotated``); ``group_field`` keeps related rows (one template, one video) in one split."""
    out = []
    licence = _licence(importer)
    for record in ds:
        text = record.get(text_field)
        if not isinstance(text, str) or not text.strip():
            continue
        mapped = to_labels(record)
        if mapped is None:
            continue
        labels, flags = mapped[0], mapped[1]
        row_annotated = mapped[2] if len(mapped) == 3 else annotated  # type: ignore[misc]
        # Only a hash of the group's value is kept (YouTube authors are real people's display names).
        group = hashlib.blake2b(f"{importer}:{record[group_field]}".encode(), digest_size=8).hexdigest() if group_field else None
        out.append(Example(text=text.strip(), labels=frozenset(labels), flags=frozenset(flags), channel=None,
                           source=importer, licence=licence, annotated=row_annotated, group=group))
    return out


def _davidson(path: Path, cache: Path) -> list[Example]:
    ds = _datasets(cache).load_dataset("csv", data_files=str(_file(path, "labeled_data.csv")), split="train", cache_dir=str(cache))
    return _rows(ds, "davidson", frozenset({"abusive"}),
                 lambda r: ({"abusive"} if int(r["class"]) in (0, 1) else set(), set()), "tweet")


def _olid(path: Path, cache: Path) -> list[Example]:
    ds = _datasets(cache).load_dataset("csv", data_files=str(_file(path, "olid-training-v1.0.tsv")), delimiter="\t",
                                       split="train", cache_dir=str(cache))
    return _rows(ds, "olid", frozenset({"abusive"}),
                 lambda r: ({"abusive"} if r["subtask_a"] == "OFF" else set(), set()), "tweet")


def _tweeteval_task(task: str, target: str, positive: set[int], annotated: frozenset[str]) -> Callable[[Path, Path], list[Example]]:
    def load(path: Path, cache: Path) -> list[Example]:
        root = path / task if (path / task).is_dir() else path
        lib = _datasets(cache)
        out: list[Example] = []
        for part in ("train", "val"):
            text_file, label_file = root / f"{part}_text.txt", root / f"{part}_labels.txt"
            if not text_file.is_file():
                continue
            texts = lib.load_dataset("text", data_files=str(text_file), split="train", cache_dir=str(cache))["text"]
            labels = lib.load_dataset("text", data_files=str(label_file), split="train", cache_dir=str(cache))["text"]
            if len(texts) != len(labels):
                raise DataError(f"{text_file} and {label_file} have different line counts")
            for text, label in zip(texts, labels, strict=True):
                if text.strip():
                    hit = int(label) in positive
                    out.append(Example(text=text.strip(), labels=frozenset({target} if hit and target else set()),
                                       source=f"tweeteval-{task}", licence=_licence(f"tweeteval-{task}"),
                                       annotated=annotated))
        if not out:
            raise DataError(f"no TweetEval {task} files under {path}")
        return out

    return load


def _ethos(path: Path, cache: Path) -> list[Example]:
    ds = _datasets(cache).load_dataset("csv", data_files=str(_file(path, "Ethos_Dataset_Binary.csv")), delimiter=";",
                                       split="train", cache_dir=str(cache))
    return _rows(ds, "ethos", frozenset({"abusive"}),
                 lambda r: ({"abusive"} if float(r["isHate"]) >= 0.5 else set(), set()), "comment")


# A banking request is a query when it asks or requests something; a bare statement of a problem
# ("My card was declined in a shop") is a complaint under the guide, and not a query (MANIFEST.md).
_ASKS = re.compile(
    r"\?|\b(?:please|pls|plz|help|can (?:you|i|u)|could (?:you|i)|would (?:you|it)|will (?:you|i|it)|i need|i'd like|i would like|"
    r"i want|i wanted to (?:know|ask|check)|want to|need to|wanna|have to|advise|let me know|tell me|show me|explain|"
    r"how (?:do|can|to|long|much|many|does)|what (?:do|should|is|are|can)|is it possible|am i able|is there|are there|"
    r"where (?:is|are|do|can)|when (?:will|is|can|do)|why (?:is|are|was|did|has|have|do|does|can)|any (?:way|idea|chance))\b",
    re.IGNORECASE)
_ASK_START = re.compile(
    r"^\W*(?:hi|hello|hey)?\W*(?:how|what|whats|what's|why|where|when|which|who|whom|whose|can|could|would|will|should|shall|may|"
    r"might|is|are|am|was|were|do|does|did|have|has|had|cancel|change|freeze|block|unblock|close|delete|remove|update|"
    r"verify|activate|reactivate|order|reset|refund|transfer|top|send|give|get|check|add|link|dispute|report|stop|make|"
    r"set|sort|fix|replace|reverse|return|exchange|convert|increase|lock|unlock|edit|switch|restore|find|track|"
    r"request|apply|open|confirm|tell|show|explain|need|want|require|looking)\b",
    re.IGNORECASE)
# Intents that report a failure whatever their phrasing ("why was I charged twice?" is a query and a complaint).
_BANKING_COMPLAINTS = frozenset({
    "card_not_working", "contactless_not_working", "virtual_card_not_working", "transaction_charged_twice",
    "Refund_not_showing_up", "declined_card_payment", "declined_transfer", "declined_cash_withdrawal", "failed_transfer",
    "card_payment_wrong_exchange_rate", "wrong_exchange_rate_for_cash_withdrawal", "wrong_amount_of_cash_received",
    "cash_withdrawal_not_recognised", "card_payment_not_recognised", "direct_debit_payment_not_recognised",
    "extra_charge_on_statement", "card_swallowed", "balance_not_updated_after_bank_transfer",
    "balance_not_updated_after_cheque_or_cash_deposit", "top_up_failed", "top_up_reverted", "reverted_card_payment?",
    "transfer_not_received_by_recipient", "unable_to_verify_identity", "pin_blocked", "compromised_card",
    "lost_or_stolen_card", "lost_or_stolen_phone",
})


def asks_something(text: str) -> bool:
    """Whether a customer's message is phrased as a question or a request (else: a statement).

    >>> asks_something("Change currency"), asks_something("My card was declined in a shop.")
    (True, False)
    """
    return bool(_ASKS.search(text) or _ASK_START.search(text))


def _banking_labels(record: dict) -> tuple[set[str], set[str], frozenset[str]]:  # type: ignore[type-arg]
    """Labels and what this row speaks about: a question says nothing about ``complaint`` unless its intent
    reports a failure; a statement says nothing about ``query`` (the intent would tell, the words do not)."""
    failure = record["category"] in _BANKING_COMPLAINTS
    if asks_something(record["text"]):
        if failure:
            return {"query", "complaint"}, set(), frozenset({"query", "complaint", "abusive", "spam"})
        return {"query"}, set(), frozenset({"query", "abusive", "spam"})
    return {"complaint"}, set(), frozenset({"complaint", "abusive", "spam"})


def _banking77(path: Path, cache: Path) -> list[Example]:
    ds = _datasets(cache).load_dataset("csv", data_files=str(_file(path, "train.csv")), split="train", cache_dir=str(cache))
    # Every row is a customer's message to a service provider: neither abuse nor spam; a query or a complaint.
    return _rows(ds, "banking77", frozenset({"query", "complaint", "abusive", "spam"}), _banking_labels, "text")


def _youtube_spam(path: Path, cache: Path) -> list[Example]:
    files = sorted(path.glob("Youtube0*.csv")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"no Youtube0*.csv files under {path}")
    ds = _datasets(cache).load_dataset("csv", data_files=[str(f) for f in files], split="train", cache_dir=str(cache))
    label_key = "label" if "label" in ds.column_names else "CLASS"
    ds = ds.map(lambda r: {"CONTENT": (r["CONTENT"] or "").replace("<br />", " ").replace("\ufeff", "")})
    # Split by author (only hashed into a split, never kept): one spammer's repeated posts stay on one side.
    # There are only five videos, too few to split by video.
    return _rows(ds, "youtube_spam", frozenset({"spam"}),
                 lambda r: (set(), {"spam"} if int(r[label_key]) == 1 else set()), "CONTENT", group_field="AUTHOR")


def _sms_spam(path: Path, cache: Path) -> list[Example]:
    ds = _datasets(cache).load_dataset("csv", data_files=str(_file(path, "SMSSpamCollection")), delimiter="\t",
                                       column_names=["label", "text"], quoting=3, split="train", cache_dir=str(cache))
    return _rows(ds, "sms_spam", frozenset({"spam"}),
                 lambda r: (set(), {"spam"} if r["label"] == "spam" else set()), "text")


def _airline(path: Path, cache: Path) -> list[Example]:
    ds = _datasets(cache).load_dataset("csv", data_files=str(_file(path, "Tweets.csv")), split="train", cache_dir=str(cache))

    def labels(r: dict) -> tuple[set[str], set[str]]:  # type: ignore[type-arg]
        if r["airline_sentiment"] == "negative":
            reason = r.get("negativereason") or ""
            return ({"negative", "complaint"} if reason and reason != "Can't Tell" else {"negative"}), set()
        if r["airline_sentiment"] == "positive":
            return {"compliment"}, set()
        return set(), set()

    return _rows(ds, "airline_sentiment", frozenset({"negative", "complaint", "compliment"}), labels, "text")


_PII_SPANS = {"PHONE_NUMBER", "EMAIL_ADDRESS", "STREET_ADDRESS", "ZIP_CODE", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "US_DRIVER_LICENSE"}


def _presidio(path: Path, cache: Path) -> list[Example]:
    import json

    records = json.loads(_file(path, "synth_dataset_v2.json").read_text(encoding="utf-8"))
    ds = _datasets(cache).Dataset.from_list([{"text": r["full_text"], "types": [s["entity_type"] for s in r.get("spans", [])],
                                              "template": str(r.get("template_id", ""))} for r in records])

    def labels(r: dict) -> tuple[set[str], set[str]]:  # type: ignore[type-arg]
        types = set(r["types"])
        # Contact, address, payment and ID details are pii; a name, a place or a date alone is not (MANIFEST.md).
        return ({"pii"} if types & _PII_SPANS else set()), set()

    # Split by template: sentences from one template differ only in the values filled in.
    return _rows(ds, "presidio_synth", frozenset({"pii"}), labels, "text", group_field="template")


# Licences as shared/data/MANIFEST.md states them; rows, cards and `sift data list` read them from here.
_TWEETEVAL = "research terms (per-task SemEval terms)"

IMPORTERS: dict[str, Importer] = {
    i.name: i for i in [
        Importer("davidson", "MIT", False, frozenset({"abusive"}), "offensive/hate tweets -> abusive", _davidson),
        Importer("olid", "CC BY 4.0 (mirror; OLID states none)", False, frozenset({"abusive"}), "offensive tweets -> abusive", _olid),
        Importer("tweeteval-offensive", _TWEETEVAL, True, frozenset({"abusive"}), "offensive tweets -> abusive",
                 _tweeteval_task("offensive", "abusive", {1}, frozenset({"abusive"}))),
        Importer("tweeteval-hate", _TWEETEVAL, True, frozenset({"abusive"}), "hate tweets -> abusive",
                 _tweeteval_task("hate", "abusive", {1}, frozenset({"abusive"}))),
        Importer("tweeteval-sentiment", _TWEETEVAL, True, frozenset({"negative"}), "sentiment (val only) -> negative",
                 _tweeteval_task("sentiment", "negative", {0}, frozenset({"negative"}))),
        Importer("tweeteval-emotion", _TWEETEVAL, True, frozenset({"negative"}),
                 "anger and sadness -> negative; joy and optimism -> not negative (a weak signal for tone)",
                 _tweeteval_task("emotion", "negative", {0, 3}, frozenset({"negative"}))),
        Importer("tweeteval-irony", _TWEETEVAL, True, frozenset({"compliment"}), "ironic tweets as hard negatives for compliment",
                 _tweeteval_task("irony", "", set(), frozenset({"compliment"}))),
        Importer("ethos", "GPL-3.0", True, frozenset({"abusive"}), "hateful YouTube/Reddit comments -> abusive", _ethos),
        Importer("banking77", "CC BY 4.0", False, frozenset({"query", "complaint", "abusive", "spam"}),
                 "bank customers' requests -> query; bare problem statements -> complaint", _banking77),
        Importer("youtube_spam", "CC BY 4.0", False, frozenset({"spam"}), "YouTube comment spam -> spam", _youtube_spam),
        Importer("sms_spam", "CC BY 4.0", False, frozenset({"spam"}), "SMS spam -> spam", _sms_spam),
        Importer("airline_sentiment", "CC BY-NC-SA 4.0", True, frozenset({"negative", "complaint", "compliment"}),
                 "airline tweets -> negative/complaint/compliment", _airline),
        Importer("presidio_synth", "MIT", False, frozenset({"pii"}), "synthetic sentences with personal data -> pii", _presidio),
    ]
}


def get_importer(name: str) -> Importer:
    try:
        return IMPORTERS[name]
    except KeyError:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(sorted(IMPORTERS))}") from None


def run_import(name: str, source: Path, cache: Path) -> list[Example]:
    importer = get_importer(name)
    if not source.exists():
        raise DataError(f"{source} does not exist")
    cache.mkdir(parents=True, exist_ok=True)
    rows = importer.load(source, cache)
    # The registry entry is the one place that states a source's licence; rows keep what they annotate.
    # Deduplicate exact texts (crowd sets repeat retweets); keep the first.
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row.text not in seen:
            seen.add(row.text)
            unique.append(replace(row, source=importer.name, licence=importer.licence))
    return unique


def read_sources(public_data: dict[str, Path], imports: list[Path] | None = None,
                 allowed: set[str] | None = None) -> dict[str, list[Example]]:
    """Rows of each named public source, imported now from its folder, plus rows read from import files, by
    source name. With ``allowed`` given, a restricted source not in it is refused (training); without, all are
    read (held-out evaluation)."""
    import tempfile

    from training.data import read_jsonl

    by_source: dict[str, list[Example]] = {}
    with tempfile.TemporaryDirectory(prefix="sift-import-") as cache:
        for name, path in public_data.items():
            by_source.setdefault(name, []).extend(run_import(name, path, Path(cache)))
    for path in imports or []:
        for row in read_jsonl(path):
            # An import file keeps the licence as it was stated when the file was written; the registry's wins.
            importer = IMPORTERS.get(row.source)
            by_source.setdefault(row.source, []).append(replace(row, licence=importer.licence) if importer else row)
    if allowed is not None:
        for source, rows in by_source.items():
            importer = IMPORTERS.get(source)
            if (importer.restricted if importer else True) and source not in allowed:
                raise DataError(f"{source!r} rows come under a licence ({rows[0].licence}) that restricts use; add it to "
                                f"allow_restricted (--allow-restricted {source}) to train on it, and the card will say so")
    return dict(sorted(by_source.items()))
