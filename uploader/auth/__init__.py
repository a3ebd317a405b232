"""Sign-in: the credential store and secret sources, OAuth building blocks (state, PKCE,
the loopback listener) and the providers' login flows. Imports nothing eagerly."""
