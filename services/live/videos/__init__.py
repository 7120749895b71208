"""Short videos: a host's or merchant's clips with product and deal anchors (docs/ARCHITECTURE.md, "Short videos")."""
