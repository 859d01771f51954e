"""Alerts (issue 10): settings (web and CLI), the evaluation pass and delivery (workers only)."""
