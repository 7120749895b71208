"""Local life: stores, group-buy deals, vouchers, redemption, expiry, team buys."""
