"""Local development stack: embedded Postgres, NATS and Stripe fake, the five services, demo data."""
