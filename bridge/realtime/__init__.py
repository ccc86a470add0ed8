"""OpenAI Realtime: typed events (GA and beta dialects), session configuration, transports."""
