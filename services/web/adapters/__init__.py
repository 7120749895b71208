"""The web app's outside systems: the services' public HTTP APIs."""
