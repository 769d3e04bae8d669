"""sift's HTTP service (FastAPI). Imports ``model``; ``model`` never imports this."""
