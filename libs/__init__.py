"""Shared code for every Liveloop service. Libs never import services."""
