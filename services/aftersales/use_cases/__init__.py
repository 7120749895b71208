"""What aftersales does: keeps the facts of orders (`orders`), opens and reads cases (`cases`), moves them
(`moves`)."""
