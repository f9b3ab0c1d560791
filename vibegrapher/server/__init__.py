"""How the app is served: the multi-process launcher, request threads and lanes, the
body-size limit, refusals daphne makes itself, graceful shutdown, static files in
development and the health check. Imports no app: apps register what they need."""
