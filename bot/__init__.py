"""Application wiring: configuration, Telegram client, dispatcher, CLI."""
