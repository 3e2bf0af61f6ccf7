"""Notifications: an outbox written with the change that causes it, and its delivery."""
