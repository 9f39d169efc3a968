"""The `vigil` command: admin commands on the database, everyday commands through the API."""
