"""An httpx client for OpenAI's REST endpoints used after a call (Files, Uploads, Batches, transcriptions)."""
