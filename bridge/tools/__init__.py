"""Tool handlers the model can call: static, HTTP, Python and built-ins."""
