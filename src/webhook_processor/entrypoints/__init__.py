"""Entrypoints: the HTTP server, the CLI and (later) the Lambda handlers. Thin: they translate."""
