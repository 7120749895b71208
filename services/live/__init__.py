"""Live: rooms and their feed (rooms/), flash sales (flash_sales/) and coupon drops (coupons/), one schema."""
