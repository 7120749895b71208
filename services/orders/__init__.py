"""Orders: checkout, orders per merchant, Stripe payments and webhooks, payment deadlines."""
