"""Adapters: everything in SparkQ that touches the world (SQLite, HTTP, CLI, files, processes)."""
