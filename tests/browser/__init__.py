"""Browser tests: headless Chromium (Playwright) against a real served app."""
