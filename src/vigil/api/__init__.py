"""The HTTP layer: app factory, dependencies, error mapping and thin routers."""
