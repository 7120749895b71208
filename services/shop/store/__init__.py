"""SQL for the shop schema only: catalogue, reservations, carts."""
