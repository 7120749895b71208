"""Pure shop rules, no I/O: the catalogue (`catalogue`), SKU stock counts (`stock`), reservations for checkout
(`reservations`), flash-sale allocations (`allocations`) and what shop refuses (`refusals`)."""
