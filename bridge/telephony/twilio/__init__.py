"""Twilio: Media Streams codec (protocol.py), TwiML and signatures (webhook.py), call control (rest.py)."""
