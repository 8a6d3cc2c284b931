"""Deliveries over HTTP: `outbound` sends them (httpx requests, each destination on its way out),
`http1` is the HTTP/1.1 transport that carries most of them (asyncio + httptools)."""
