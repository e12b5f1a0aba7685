"""Services the handlers call: onboarding, reporting, lookups. Session and settings passed in."""
