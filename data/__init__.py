"""sift's shipped defaults, installed as the package ``sift_data`` (see ``model/shipped.py``)."""
