"""The call archive: storage, recordings, REST API and post-call jobs."""
