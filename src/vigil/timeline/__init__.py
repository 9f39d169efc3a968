"""The incident timeline, shared by every capability that acts on incidents."""
