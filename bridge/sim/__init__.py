"""Simulated telephony peers: a Twilio Media Streams caller."""
