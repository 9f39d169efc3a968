"""Teams, users, and the API tokens people and tools use to act as a user."""
