"""Monitored services, their integration keys, and their change-event timeline."""
