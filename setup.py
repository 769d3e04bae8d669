"""Only what pyproject.toml cannot say: the found packages plus ``sift_data``, mapped from ``data/``."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["model*", "api*", "service*", "training*", "cli*"]), "sift_data"])
