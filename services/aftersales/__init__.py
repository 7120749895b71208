"""After-sales: refund only, return and refund, exchange, deadlines, arbitration."""
