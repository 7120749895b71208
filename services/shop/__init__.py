"""Shop: merchants, catalogue, SKUs and stock, reservations for checkout, buyer carts."""
