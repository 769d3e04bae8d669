"""What every entry point shares: configuration, storage, and the use cases (decide and store a comment,
review it). The web app (``api``) and the console command (``cli``) both call these; neither reaches into
the other."""
