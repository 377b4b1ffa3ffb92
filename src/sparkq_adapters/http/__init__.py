"""The HTTP adapter: the Litestar REST API, the local-origin guard, live events, the static UI."""
