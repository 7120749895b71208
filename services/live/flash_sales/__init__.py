"""Flash sales of live rooms: N units of a bag SKU sold at a price for a while, decided in batches; run by the
room's host or merchant, bought by buyers, followed through their orders' payment. Uses rooms, never the reverse."""
