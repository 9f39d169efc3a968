"""Notifications: contact methods, rules, the outbox and its sender, and the channel adapters."""
