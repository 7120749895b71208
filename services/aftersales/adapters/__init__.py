"""aftersales' outside parts: shop's exchange stock requests."""
