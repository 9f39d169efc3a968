"""Escalation policies, the pinned escalation state of each incident, and the pure planner."""
