"""One phone call: playback ledger, the sans-I/O CallSession, and the asyncio runner that pumps it."""
