"""SQL for the shop schema only: catalogue, reservations, flash-sale allocations, carts."""
