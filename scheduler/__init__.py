"""Reminders, escalation, digests and delivery. Policy is pure; APScheduler only times it."""
