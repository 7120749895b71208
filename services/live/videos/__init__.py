"""Short videos: a host's or merchant's published clips with product and deal anchors (小黄车), a host's shelf."""
