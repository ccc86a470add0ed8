"""The Starlette application: Twilio routes, health, metrics and the archive API."""
