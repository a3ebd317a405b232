"""Rate limits: the limiter, the bucket model, rate-limit header parsing and the shared
state store. Imports nothing eagerly."""
