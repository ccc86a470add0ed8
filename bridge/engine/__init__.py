"""The bundled local Realtime-compatible engine: the offline default and the bridge's test peer."""
