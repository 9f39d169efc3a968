"""Incidents: lifecycle, severity, and the timeline of everything that happened."""
