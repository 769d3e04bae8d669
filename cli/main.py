"""The ``sift`` console command: each command group lives in its own module; this one assembles them."""

from __future__ import annotations

import os

# Nothing may be downloaded at run time: every model and data set is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from cli import access, authors, classify, data, events, models, policy, review, serve, webhooks  # noqa: E402 - after the offline switches
from cli.common import App  # noqa: E402

app = App(help="sift: classify comments sent to an organisation's social media accounts.")
app.command()(serve.serve)
app.command()(classify.classify)
app.command()(classify.batch)
app.command()(models.train)
app.command()(models.evaluate)
app.add_typer(access.users_app, name="users")
app.add_typer(review.review_app, name="review")
app.add_typer(authors.authors_app, name="authors")
app.add_typer(policy.policy_app, name="policy")
app.add_typer(access.keys_app, name="keys")
app.add_typer(serve.db_app, name="db")
app.add_typer(data.data_app, name="data")
app.add_typer(models.models_app, name="models")
app.add_typer(events.events_app, name="events")
app.add_typer(webhooks.webhooks_app, name="webhooks")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
