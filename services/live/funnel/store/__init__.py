"""SQL of the funnel's tables (`funnel_*`)."""
