"""The engine: a fixed list of modules, each advancing all its due rows once per cycle."""
