"""Each importer on a few rows in its source's own format, made here (the real files are not in the repo)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from training.config import TrainingConfig
from training.data import DataError, write_jsonl
from training.importers import IMPORTERS, read_sources, run_import
from training.trainer import prepare

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


CASES = {
    "davidson": ("labeled_data.csv", ",count,hate_speech,offensive_language,neither,class,tweet\n"
                 "0,3,0,3,0,1,you are a b*tch\n1,3,0,0,3,2,lovely day at the beach\n", {"abusive": 1}),
    "olid": ("olid-training-v1.0.tsv", "id\ttweet\tsubtask_a\tsubtask_b\tsubtask_c\n1\t@USER shut up idiot\tOFF\tTIN\tIND\n"
             "2\t@USER nice one\tNOT\tNULL\tNULL\n", {"abusive": 1}),
    "ethos": ("Ethos_Dataset_Binary.csv", "comment;isHate\nawful people all of them;0.8\nI like dogs;0.0\n", {"abusive": 1}),
    "banking77": ("train.csv", "text,category\nwhere is my card?,card_arrival\nhow do I top up?,top_up\n", {"query": 2}),
    "sms_spam": ("SMSSpamCollection", "ham\tsee you at 5\nspam\tWIN a prize call 09061701461\n", {"spam": 1}),
    "airline_sentiment": ("Tweets.csv", "tweet_id,airline_sentiment,negativereason,airline,text,tweet_created\n"
                          "1,negative,Late Flight,X,@x late again,2/24/2015\n2,positive,,X,@x thanks so much,2/24/2015\n"
                          "3,neutral,,X,@x what time is it,2/24/2015\n", {"negative": 1, "complaint": 1, "compliment": 1}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_importer_maps_labels_and_records_source_licence_and_annotation(tmp_path: Path, name: str) -> None:
    filename, content, expected = CASES[name]
    _write(tmp_path / "src" / filename, content)
    rows = run_import(name, tmp_path / "src", tmp_path / "cache")
    counts: dict[str, int] = {}
    for row in rows:
        for target in row.labels | row.flags:
            counts[target] = counts.get(target, 0) + 1
        assert row.source == name and row.licence == IMPORTERS[name].licence
        assert row.annotated <= IMPORTERS[name].annotated  # a row may speak about fewer targets than its source
    assert counts == expected


def test_banking_requests_are_queries_and_bare_problem_statements_are_complaints(tmp_path: Path) -> None:
    _write(tmp_path / "b" / "train.csv", "text,category\n"
           "Freeze my account it's been hacked,compromised_card\n"
           "Change currency,fiat_currency_support\n"
           "I believe my credit card was stolen.,lost_or_stolen_card\n"
           "The money would not transfer to a beneficiary.,failed_transfer\n"
           "why was I charged twice?,transaction_charged_twice\n")
    rows = {r.text: r for r in run_import("banking77", tmp_path / "b", tmp_path / "c")}
    freeze, currency = rows["Freeze my account it's been hacked"], rows["Change currency"]
    assert freeze.target("query") == 1.0 and currency.target("query") == 1.0
    assert currency.target("complaint") is None  # a plain request says nothing about a complaint
    for statement in ("I believe my credit card was stolen.", "The money would not transfer to a beneficiary."):
        assert rows[statement].target("complaint") == 1.0
        assert rows[statement].target("query") is None  # masked: a statement is not taught as "not a query" either
    twice = rows["why was I charged twice?"]
    assert twice.target("query") == 1.0 and twice.target("complaint") == 1.0


def test_groups_keep_a_template_in_one_split_and_are_only_hashes(tmp_path: Path) -> None:
    from training.data import split

    _write(tmp_path / "ps" / "synth_dataset_v2.json", json.dumps(
        [{"full_text": f"call {name} on 555-12{i:02d}", "template_id": 7, "spans": [{"entity_type": "PHONE_NUMBER"}]}
         for i, name in enumerate(["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"])]))
    rows = run_import("presidio_synth", tmp_path / "ps", tmp_path / "c")
    assert len({r.group for r in rows}) == 1 and rows[0].group not in {"7", "presidio_synth:7"}
    assert len(rows[0].group or "") == 16  # a hash, not the value
    assert sum(1 for part in split(rows).values() if part) == 1


def test_youtube_and_presidio_and_tweeteval_importers(tmp_path: Path) -> None:
    _write(tmp_path / "yt" / "Youtube01-Psy.csv", "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n1,a,2014,check out my channel<br />,1\n"
           "2,b,2014,great song,0\n")
    assert sum("spam" in r.flags for r in run_import("youtube_spam", tmp_path / "yt", tmp_path / "c")) == 1
    _write(tmp_path / "ps" / "synth_dataset_v2.json", json.dumps([
        {"full_text": "call me on 555-1234", "spans": [{"entity_type": "PHONE_NUMBER"}]},
        {"full_text": "I work at Contoso", "spans": [{"entity_type": "ORGANIZATION"}]}]))
    assert [r.labels for r in run_import("presidio_synth", tmp_path / "ps", tmp_path / "c")] == [frozenset({"pii"}), frozenset()]
    _write(tmp_path / "te" / "offensive" / "train_text.txt", "you idiot\nnice\n")
    _write(tmp_path / "te" / "offensive" / "train_labels.txt", "1\n0\n")
    rows = run_import("tweeteval-offensive", tmp_path / "te", tmp_path / "c")
    assert [bool(r.labels) for r in rows] == [True, False]
    _write(tmp_path / "te" / "emotion" / "train_text.txt", "so angry right now\nbest day ever\nfeeling low\nlooking up\n")
    _write(tmp_path / "te" / "emotion" / "train_labels.txt", "0\n1\n3\n2\n")  # anger, joy, sadness, optimism
    emotion = run_import("tweeteval-emotion", tmp_path / "te", tmp_path / "c")
    assert [r.target("negative") for r in emotion] == [1.0, 0.0, 1.0, 0.0] and emotion[0].target("complaint") is None


def test_unknown_importer_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="known: .*davidson"):
        run_import("jigsaw", tmp_path, tmp_path)


def test_restricted_sources_are_refused_unless_named(tmp_path: Path) -> None:
    filename, content, _ = CASES["airline_sentiment"]
    _write(tmp_path / "src" / filename, content)
    path = tmp_path / "airline.jsonl"
    write_jsonl(run_import("airline_sentiment", tmp_path / "src", tmp_path / "cache"), path)
    config = TrainingConfig(base_model="tiny-random", seed_data=[REPO / "data" / "seed"], imports=[path])
    with pytest.raises(DataError, match="restricts use.*--allow-restricted airline_sentiment"):
        prepare(config)
    allowed = prepare(config.model_copy(update={"allow_restricted": ["airline_sentiment"]}))
    assert allowed.sources["airline_sentiment"]["restricted"] is True


def test_the_registry_states_the_licence_even_for_an_import_file_written_before_it_changed(tmp_path: Path) -> None:
    filename, content, _ = CASES["sms_spam"]
    _write(tmp_path / "src" / filename, content)
    rows = run_import("sms_spam", tmp_path / "src", tmp_path / "cache")
    path = tmp_path / "sms.jsonl"
    write_jsonl([replace(r, licence="as it was stated last year") for r in rows], path)
    config = TrainingConfig(base_model="tiny-random", seed_data=[REPO / "data" / "seed"], imports=[path])
    assert prepare(config).sources["sms_spam"]["licence"] == IMPORTERS["sms_spam"].licence
    assert {r.licence for r in read_sources({}, [path])["sms_spam"]} == {IMPORTERS["sms_spam"].licence}
