"""Telephony providers: each adapter translates its media-stream wire format to telephony.events."""
