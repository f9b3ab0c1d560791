"""Small shared tools with no app knowledge: background tasks, the Redis cache with a
memory stand-in, log formatting, secret-hiding debug pages and crash points for tests."""
