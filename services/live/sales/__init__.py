"""Flash sales and coupon drops of live rooms."""
